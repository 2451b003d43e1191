import assert from "node:assert/strict";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runKiln, tmpDir } from "../helpers.js";

test("doctor passes on the CI host and reports every check as JSON", async () => {
  const r = await runKiln(["doctor", "--json"]);
  const report = JSON.parse(r.stdout);
  assert.equal(r.code, report.ok ? 0 : 1);
  assert.ok(report.checks.some((c: { what: string }) => c.what === "qemu-system-x86_64"));
  assert.equal(report.ok, true, `missing: ${report.installRequired}`);
});

test("doctor names the missing tools and the exact apt-get line, and exits 1", async () => {
  const bin = tmpDir();
  try {
    // A PATH holding only node and gcc: qemu, depmod, xz... are missing.
    symlinkSync(process.execPath, join(bin.path, "node"));
    symlinkSync("/usr/bin/gcc", join(bin.path, "gcc"));
    const r = await runKiln(["doctor"], { env: { PATH: bin.path } });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /MISSING\s+qemu-system-x86_64\s+qemu-system-x86/);
    assert.match(r.stdout, /^ok\s+gcc/m);
    const line = r.stdout.split("\n").find((l) => l.trim().startsWith("apt-get install -y"));
    assert.ok(line, r.stdout);
    for (const pkg of ["qemu-system-x86", "kmod", "xz-utils", "musl-tools"])
      assert.ok(line.includes(pkg), `${pkg} in ${line}`);
    assert.ok(!line.includes(" gcc"), "gcc is present and must not be in the install line");
  } finally {
    bin.cleanup();
  }
});
