import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isKilnError } from "../core/errors.js";
import { checkKernelFits, kernelNeedsBytes, memoryFor, outOfMemoryLine } from "./imageMemory.js";

const MIB = 1024 * 1024;

/** A bzImage's first bytes: the boot sector signature and a setup header of the given protocol. */
function header(version: number, pref: number, initSize: number): Buffer {
  const b = Buffer.alloc(0x400);
  b.writeUInt16LE(0xaa55, 0x1fe);
  b.write("HdrS", 0x202, "latin1");
  b.writeUInt16LE(version, 0x206);
  b.writeBigUInt64LE(BigInt(pref), 0x258);
  b.writeUInt32LE(initSize, 0x260);
  return b;
}

test("the kernel's needs come from pref_address + init_size, only where the header has them", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-mem-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, data: Buffer) => {
    writeFileSync(join(dir, name), data);
    return join(dir, name);
  };
  // Debian's cloud kernel 6.1: loaded at 16 MiB, 51.47 MiB before it can read the memory map.
  assert.equal(
    await kernelNeedsBytes(file("stock", header(0x20f, 0x1000000, 53968896))),
    0x1000000 + 53968896,
  );
  assert.equal(await kernelNeedsBytes(file("old", header(0x209, 0x1000000, 1))), undefined);
  assert.equal(await kernelNeedsBytes(file("elf", Buffer.from("\x7fELF...."))), undefined);
  assert.equal(await kernelNeedsBytes(join(dir, "missing")), undefined);
});

test("booting needs the kernel, three times the initrd and 4 MiB; the default adds the program's room", () => {
  // The rows measured in imageMemory.ts: each estimate is at or above the smallest memory that booted.
  const rows: [kernel: number, initrd: number, booted: number][] = [
    [0x1000000 + 53968896, 0.69 * MIB, 70],
    [0x1000000 + 53968896, 19.77 * MIB, 108],
    [0x200000 + 14070000, 0.1 * MIB, 18],
    [0x200000 + 14070000, 19.17 * MIB, 74],
  ];
  for (const [k, i, booted] of rows) {
    const m = memoryFor(k, i);
    assert.ok(m.bootMiB >= booted, `${m.bootMiB} >= ${booted}`);
    assert.ok(m.defaultMiB >= m.bootMiB + 48 && m.defaultMiB % 16 === 0, JSON.stringify(m));
  }
  // A stock hello keeps the old fixed default; a specialized one gets less; a big initrd gets more.
  assert.equal(memoryFor(rows[0]![0], rows[0]![1]).defaultMiB, 128);
  assert.equal(memoryFor(rows[2]![0], rows[2]![1]).defaultMiB, 80);
  assert.equal(memoryFor(rows[1]![0], 40 * MIB).defaultMiB, 240);
  assert.equal(memoryFor(rows[0]![0], 0).kernelMiB, 68);
});

test("the kernel's out-of-memory lines are recognised and quoted without their time", () => {
  assert.equal(
    outOfMemoryLine("[    2.049264] Kernel panic - not syncing: System is deadlocked on memory\r"),
    "Kernel panic - not syncing: System is deadlocked on memory",
  );
  assert.equal(
    outOfMemoryLine("[    0.412000] Initramfs unpacking failed: write error"),
    "Initramfs unpacking failed: write error",
  );
  assert.equal(
    outOfMemoryLine("[    3.1] Out of memory: Killed process 61 (redis-server) total-vm:1kB"),
    "Out of memory: Killed process 61 (redis-server) total-vm:1kB",
  );
  assert.equal(outOfMemoryLine("Initramfs unpacking failed: junk within compressed archive"), undefined);
  assert.equal(outOfMemoryLine("Hello from kiln!"), undefined);
  assert.equal(outOfMemoryLine("kiln: exit 0"), undefined);
});

test("a memory size below the kernel's own needs is refused before anything boots", () => {
  const needs = memoryFor(0x1000000 + 53968896, MIB);
  checkKernelFits(68, needs);
  checkKernelFits(16, undefined);
  assert.throws(
    () => checkKernelFits(32, needs),
    (e) =>
      isKilnError(e) && e.code === "KILN_EMEMORY_TOO_SMALL" && /-M 32/.test(e.message) && e.exitCode === 2,
  );
});
