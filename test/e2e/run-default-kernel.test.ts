// The default path: with a specialized kernel built for what the image needs, `kiln run` and `kiln bake`
// use it and say so in one line; `--kernel stock` keeps Debian's. The kernel is the one
// test/e2e/specialized.test.ts builds for the qemu platform in the shared test home (minutes the first
// time, then found in the cache), so this file does not depend on which test ran first.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { resolvePlatform } from "../../src/components/resolve.js";
import { buildSpecializedKernel, type SpecializedKernel } from "../../src/components/specialized.js";
import { ROOT, runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";

const HELLO = join(ROOT, "examples", "hello");
const env = { ...process.env, KILN_HOME: sharedHome() };
const NOTICE =
  /^kiln: using the specialized kernel ([0-9a-f]{12}), built for qemu \([\d.]+ MB\); --kernel stock for Debian's$/m;
const scratch = tmpDir("kiln-default-kernel-");
let kernel: SpecializedKernel;

before(async () => {
  const { kconfig } = await resolvePlatform("qemu", { kernel: "specialized", env });
  kernel = await buildSpecializedKernel({ symbols: kconfig, env });
});
after(() => scratch.cleanup());

function manifestOf(image: string): { kernel: { kind: string; sha256: string }; modules: unknown[] } {
  return JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
}

describe("the default kernel", { timeout: 60 * 60_000 }, () => {
  test("kiln run examples/hello boots the specialized kernel and says so; --kernel stock does not", async () => {
    const fast = await runKiln(["run", HELLO], { timeoutMs: 180_000 });
    assert.equal(fast.code, 0, fast.stderr);
    assert.match(fast.stdout, /^Hello from kiln!\r?$/m);
    assert.equal(NOTICE.exec(fast.stderr)?.[1], kernel.configHash.slice(0, 12), fast.stderr);
    assert.equal(fast.stderr.match(new RegExp(NOTICE.source, "gm"))?.length, 1, "one line");

    const json = await runKiln(["run", HELLO, "--json"], { timeoutMs: 180_000 });
    assert.equal(json.code, 0, json.stderr);
    const r = JSON.parse(json.stdout);
    assert.deepEqual(
      [r.kernel.kind, r.kernel.chosen, r.kernel.configHash],
      ["specialized", "default", kernel.configHash],
    );
    assert.doesNotMatch(json.stderr, NOTICE, "--json carries it as a field, not a line");
    const m = manifestOf(r.image);
    assert.equal(m.kernel.kind, "specialized");
    assert.equal(m.kernel.sha256, kernel.sha256, "the image boots the kernel that was built");

    const stock = await runKiln(["run", HELLO, "--kernel", "stock", "--json"], { timeoutMs: 180_000 });
    assert.equal(stock.code, 0, stock.stderr);
    const s = JSON.parse(stock.stdout);
    assert.deepEqual([s.kernel.kind, s.kernel.chosen], ["stock", "given"]);
    assert.equal(manifestOf(s.image).kernel.kind, "stock");
    assert.ok(manifestOf(s.image).modules.length > 0, "Debian's kernel brings its modules");

    const human = await runKiln(["run", HELLO, "--kernel", "stock"], { timeoutMs: 180_000 });
    assert.equal(human.code, 0, human.stderr);
    assert.doesNotMatch(human.stderr, /specialized kernel/);

    const quiet = await runKiln(["run", HELLO, "-q"], { timeoutMs: 180_000 });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, NOTICE);
    assert.match(quiet.stdout, /^Hello from kiln!\r?$/m);
  });

  test("its boots print no kernel line at warning level or above (test/e2e/boot-warnings.test.ts)", async () => {
    const lines = (out: string) =>
      out.split(/\r?\n/).filter((l) => l !== "" && !/^kiln: /.test(l) && l !== "Hello from kiln!");
    for (const extra of [[], ["--net", "user"]]) {
      const r = await runKiln(["run", HELLO, "-q", "--cold", "--cmdline", "loglevel=5", ...extra], {
        timeoutMs: 180_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Hello from kiln!\r?$/m);
      assert.deepEqual(lines(r.stdout), [], r.stdout);
    }
    // The specialized kernel stamps no time on its lines: the check must see them all the same.
    const control = await runKiln(
      ["run", HELLO, "-q", "--cold", "--cmdline", "loglevel=5 initcall_blacklist=kiln_none"],
      {
        timeoutMs: 180_000,
      },
    );
    assert.equal(control.code, 0, control.stderr);
    assert.deepEqual(lines(control.stdout), ["PCI: Fatal: No config space access function found"]);
  });

  test("kiln bake picks it too, unless the image asks for something it lacks", async () => {
    const hello = await helloProgram();
    const out = join(scratch.path, "img");
    const b = await runKiln(["bake", "qemu", out, hello, "--json"]);
    assert.equal(b.code, 0, b.stderr);
    const r = JSON.parse(b.stdout);
    assert.deepEqual([r.kernel.kind, r.kernel.chosen], ["specialized", "default"]);
    assert.equal(manifestOf(out).kernel.kind, "specialized");
    const human = await runKiln(["bake", "qemu", out, hello, "--force"]);
    assert.match(human.stderr, NOTICE);
    // Answered by bake's memo the second time: the same notice, before the same result.
    const again = await runKiln(["bake", "qemu", out, hello, "--force"]);
    assert.match(again.stdout, /\(up to date: nothing it reads changed since\)/);
    assert.match(again.stderr, NOTICE);
    // A component outside the built kernel's set: stock, which has it as a module.
    const more = join(scratch.path, "vsock");
    const v = await runKiln(["bake", "qemu", more, hello, "--component", "virtio.vsock", "--json"]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).kernel.kind, "stock");
    assert.equal(manifestOf(more).kernel.kind, "stock");
  });
});
