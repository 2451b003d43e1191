// kiln-init's parsers (guest/json.c, config.c, cmdline.c, base64url.c, dhcp.c, xenstore.c) tested on the host: the C harness
// guest/test/unit.c is compiled with the host compiler under ASan and UBSan, run, and its TAP output read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ROOT } from "../helpers.js";

const GUEST = join(ROOT, "guest");
const CC = process.env.KILN_TEST_HOST_CC ?? "gcc";

describe("kiln-init parsers (C, on the host)", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-guest-unit-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("all unit checks pass under ASan and UBSan", () => {
    const exe = join(dir, "unit");
    const build = spawnSync(
      CC,
      [
        "-std=c11",
        "-g",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=all",
        "-o",
        exe,
        "test/unit.c",
        "test/jsondump.c",
        "json.c",
        "config.c",
        "cmdline.c",
        "base64url.c",
        "dhcp.c",
        "xenstore.c",
        "fwcfg.c",
      ],
      { cwd: GUEST, encoding: "utf8" },
    );
    assert.equal(build.status, 0, `build failed:\n${build.stderr}`);
    const r = spawnSync(exe, [], { encoding: "utf8", timeout: 60_000 });
    const lines = r.stdout.split("\n");
    const failed = lines.filter((l) => l.startsWith("not ok"));
    const plan = lines.find((l) => /^1\.\.\d+$/.test(l));
    const passed = lines.filter((l) => /^ok \d+ /.test(l)).length;
    assert.deepEqual(failed, [], `failing checks:\n${r.stdout}`);
    assert.equal(r.stderr, "", "the sanitizers stay quiet");
    assert.equal(r.status, 0);
    assert.ok(plan, "the harness ran to the end");
    assert.equal(passed, Number(plan.slice(3)));
    // The harness covers every parser; a shrunken run would be a silent loss.
    assert.ok(passed > 200, `only ${passed} checks ran`);
    for (const area of [
      "json rejects",
      "config rejects",
      "cmdline splits like the kernel",
      "base64url",
      "dhcp",
      "xenstore config",
      "xen stubdom",
    ]) {
      assert.ok(
        lines.some((l) => l.includes(area)),
        `no checks of ${area}`,
      );
    }
  });
});
