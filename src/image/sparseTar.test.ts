import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sparseTar } from "./sparseTar.js";

async function ours(path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const b of sparseTar(path, "disk.raw", { mtime: 315532800 })) chunks.push(b);
  return Buffer.concat(chunks);
}

function gnu(dir: string): Buffer {
  return execFileSync(
    "tar",
    [
      "--create",
      "--file=-",
      "--format=oldgnu",
      "--sparse",
      "--hole-detection=raw",
      "--mtime=@315532800",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      "--mode=0644",
      "-C",
      dir,
      "disk.raw",
    ],
    { maxBuffer: 1 << 28 },
  );
}

/** Files of given size with data written at given offsets (lengths may cross 512-byte blocks). */
const shapes: Record<string, { size: number; data: [number, number][] }> = {
  "data at both ends": {
    size: 8 << 20,
    data: [
      [0, 5],
      [1 << 20, 3000],
      [(8 << 20) - 1, 1],
    ],
  },
  "trailing hole": {
    size: 6 << 20,
    data: [
      [4096, 100],
      [5 << 20, 512],
    ],
  },
  "all zero": { size: 5 << 20, data: [] },
  empty: { size: 0, data: [] },
  "odd size, more runs than the header holds": {
    size: (9 << 20) + 300,
    data: Array.from({ length: 60 }, (_, i) => [i * 150_000 + 7, 10 + i] as [number, number]),
  },
};

for (const [name, shape] of Object.entries(shapes)) {
  test(`sparse tar: ${name}: same bytes as GNU tar`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-sparse-"));
    try {
      const file = join(dir, "disk.raw");
      closeSync(openSync(file, "w"));
      truncateSync(file, shape.size);
      const fd = openSync(file, "r+");
      for (const [off, len] of shape.data) writeSync(fd, Buffer.alloc(len, 0xa5), 0, len, off);
      closeSync(fd);
      const mine = await ours(file);
      assert.equal(mine.length % 10240, 0);
      assert.ok(gnu(dir).equals(mine), "differs from GNU tar");
      // and GNU tar reads it back to the same file
      const x = join(dir, "x");
      execFileSync("mkdir", [x]);
      execFileSync("tar", ["-x", "-C", x], { input: mine });
      assert.ok(readFileSync(join(x, "disk.raw")).equals(readFileSync(file)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
