// Without a specialized kernel, the first `kiln run` in a KILN_HOME says in one line how to get the fast
// path, and later runs do not. A private home (the shared one has seen other runs) made from the parts of the
// shared home a run of a built program reads: the stock kernel, the toolchain, the kiln-init cache.
import assert from "node:assert/strict";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runKiln, sharedHome } from "../helpers.js";
import { helloProgram, WORK } from "./fixtures.js";

const HINT = /^kiln: hint: `kiln components build qemu` .*$/gm;

describe("the fast path hint", { timeout: 10 * 60_000 }, () => {
  test("is shown by the first kiln run only, and remembered in KILN_HOME", async () => {
    const hello = await helloProgram();
    // Makes sure the shared home holds the stock kernel and the kiln-init cache to copy.
    assert.equal((await runKiln(["run", hello, "--kernel", "stock", "-q"])).code, 0);
    const home = join(WORK, "hint-home");
    rmSync(home, { recursive: true, force: true });
    const stock = JSON.parse(readFileSync(join(sharedHome(), "components", "stock.json"), "utf8")).sha256;
    const tree = readdirSync(join(sharedHome(), "store", "trees")).find((d) => d.includes(stock));
    assert.ok(tree, "the stock kernel's tree is in the shared store");
    for (const part of ["components/stock.json", `store/trees/${tree}`, "toolchains", "cache/kiln-init"])
      cpSync(join(sharedHome(), part), join(home, part), { recursive: true });

    // -q: no hint, and none remembered.
    const quiet = await runKiln(["run", hello, "-q"], { home, timeoutMs: 180_000 });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, HINT);
    // --kernel stock was asked for: nothing to hint at.
    const asked = await runKiln(["run", hello, "--kernel", "stock"], { home, timeoutMs: 180_000 });
    assert.equal(asked.code, 0, asked.stderr);
    assert.doesNotMatch(asked.stderr, HINT);

    const first = await runKiln(["run", hello], { home, timeoutMs: 180_000 });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Hello from kiln!\r?$/m);
    assert.equal(first.stderr.match(HINT)?.length, 1, first.stderr);
    assert.ok(existsSync(join(home, "notices", "fast-path-hint")));
    const second = await runKiln(["run", hello], { home, timeoutMs: 180_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stderr, HINT);
    rmSync(home, { recursive: true, force: true });
  });
});
