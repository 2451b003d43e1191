// A default boot says nothing alarming: with the console loglevel at 5 only kernel lines of level warning or
// worse reach the console, so any line there that is neither kiln-init's (`kiln: ...`) nor hello's is one
// (Debian's kernel stamps them `[   0.123456]`, the specialized one does not). The stock kernel on microvm
// used to print "PCI: Fatal: No config space access function found" on every boot, the specialized one also
// "ACPI BIOS Error (bug): A valid RSDP was not found"; the control case shows the check still sees such lines
// when kiln's remedy is taken away. Each run is --cold: a launch restored from a saved boot state shows no
// kernel boot at all (the launch that saves it shows its template's, which a shared home may have made before).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT, runKiln } from "../helpers.js";

const HELLO = join(ROOT, "examples", "hello");
function kernelLines(out: string): string[] {
  return out.split(/\r?\n/).filter((l) => l !== "" && !/^kiln: /.test(l) && l !== "Hello from kiln!");
}

describe("kernel lines at warning level or above", { timeout: 10 * 60_000 }, () => {
  test("none on the stock kernel on microvm (the default machine), with and without a network", async () => {
    for (const extra of [[], ["--net", "user"]]) {
      const r = await runKiln(
        ["run", HELLO, "--cold", "--kernel", "stock", "--cmdline", "loglevel=5", ...extra],
        {
          timeoutMs: 180_000,
        },
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^Hello from kiln!\r?$/m);
      assert.deepEqual(kernelLines(r.stdout), [], `${extra.join(" ")}: ${r.stdout}`);
    }
  });

  test("none on the default path, whichever kernel it picks", async () => {
    const r = await runKiln(["run", HELLO, "--cold", "--cmdline", "loglevel=5", "--json"], {
      timeoutMs: 180_000,
    });
    assert.equal(r.code, 0, r.stderr);
    // With --json the console goes to stderr.
    assert.match(r.stderr, /^Hello from kiln!\r?$/m);
    assert.deepEqual(kernelLines(r.stderr), [], `${JSON.parse(r.stdout).kernel.kind}: ${r.stderr}`);
  });

  test("the check sees warnings: without kiln's initcall_blacklist the PCI probe complains", async () => {
    // A value of the user's own for the parameter replaces kiln's (kiln only fills in what is absent).
    const r = await runKiln(
      ["run", HELLO, "--cold", "--kernel", "stock", "--cmdline", "loglevel=5 initcall_blacklist=kiln_none"],
      { timeoutMs: 180_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(
      kernelLines(r.stdout).some((l) => /PCI: Fatal: No config space access function found/.test(l)),
      r.stdout,
    );
  });
});
