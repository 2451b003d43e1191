import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { tarBuffer } from "./tarWriter.js";

function scratch(): { dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), "kiln-tarw-"));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test("GNU tar lists sorted entries with the owners, modes and fixed time given", async () => {
  const s = scratch();
  try {
    const src = join(s.dir, "src.bin");
    writeFileSync(src, Buffer.from("0123456789abcdef"));
    const tar = await tarBuffer(
      [
        { name: "disk/disk.img", path: src, offset: 4, size: 8, mode: 0o440, uid: 107, gid: 107 },
        { name: "disk", type: "directory" },
        { name: "a.txt", data: Buffer.from("hello\n") },
        { name: "link", type: "symlink", linkname: "a.txt" },
      ],
      { mtime: 1_700_000_000 },
    );
    const file = join(s.dir, "t.tar");
    writeFileSync(file, tar);
    const lines = execFileSync("tar", ["-tvf", file, "--numeric-owner", "--full-time"], {
      env: { TZ: "UTC" },
    })
      .toString()
      .trim()
      .split("\n");
    assert.deepEqual(
      lines.map((l) => l.split(/\s+/).filter((_, i) => i !== 2)),
      [
        ["-rw-r--r--", "0/0", "2023-11-14", "22:13:20", "a.txt"],
        ["drwxr-xr-x", "0/0", "2023-11-14", "22:13:20", "disk/"],
        ["-r--r-----", "107/107", "2023-11-14", "22:13:20", "disk/disk.img"],
        ["lrwxrwxrwx", "0/0", "2023-11-14", "22:13:20", "link", "->", "a.txt"],
      ],
    );
    const out = join(s.dir, "x");
    execFileSync("mkdir", [out]);
    execFileSync("tar", ["-xf", file, "-C", out]);
    assert.equal(readFileSync(join(out, "disk", "disk.img"), "utf8"), "456789ab");
    assert.equal(statSync(join(out, "disk", "disk.img")).size, 8);
  } finally {
    s.done();
  }
});

test("same entries in any order give the same bytes", async () => {
  const e = [
    { name: "b", data: Buffer.from("b") },
    { name: "a", data: Buffer.from("a") },
    { name: "c", type: "directory" as const },
  ];
  const one = await tarBuffer(e);
  const two = await tarBuffer([...e].reverse());
  assert.deepEqual(one, two);
  assert.equal(one.length % 512, 0);
});

test("a file that ends early fails the stream instead of writing a short entry", async () => {
  const s = scratch();
  try {
    const src = join(s.dir, "short");
    writeFileSync(src, "abc");
    await assert.rejects(tarBuffer([{ name: "f", path: src, size: 10 }]));
  } finally {
    s.done();
  }
});
