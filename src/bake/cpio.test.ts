import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeCpio } from "./cpio.js";

const entries = [
  { path: "/bin/hello", mode: 0o755, data: Buffer.from("#!/bin/sh\necho hi\n") },
  { path: "/etc/odd", data: Buffer.from("abc") },
  { path: "/kiln/modules", data: Buffer.from("") },
  { path: "/lib/link", type: "symlink" as const, target: "../bin/hello" },
  { path: "/a/b/c/deep.txt", data: Buffer.alloc(4097, 7) },
];

test("Debian's cpio lists every entry, parents first, in sorted order", () => {
  const out = execFileSync("cpio", ["-it", "--quiet"], { input: writeCpio(entries) })
    .toString()
    .trim()
    .split("\n");
  assert.deepEqual(out, [
    "a",
    "a/b",
    "a/b/c",
    "a/b/c/deep.txt",
    "bin",
    "bin/hello",
    "etc",
    "etc/odd",
    "kiln",
    "kiln/modules",
    "lib",
    "lib/link",
  ]);
});

test("Debian's cpio extracts contents, modes and symlinks", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-cpio-"));
  try {
    execFileSync("cpio", ["-idm", "--quiet"], { cwd: dir, input: writeCpio(entries) });
    assert.equal(readFileSync(join(dir, "bin/hello"), "utf8"), "#!/bin/sh\necho hi\n");
    assert.equal(statSync(join(dir, "bin/hello")).mode & 0o777, 0o755);
    assert.equal(statSync(join(dir, "etc/odd")).mode & 0o777, 0o644);
    assert.deepEqual(readFileSync(join(dir, "a/b/c/deep.txt")), Buffer.alloc(4097, 7));
    assert.equal(readlinkSync(join(dir, "lib/link")), "../bin/hello");
    assert.equal(statSync(join(dir, "etc/odd")).mtimeMs, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the same entries in any order give the same bytes", () => {
  const a = writeCpio(entries);
  const b = writeCpio([...entries].reverse());
  assert.ok(a.equals(b));
  assert.equal(a.length % 4, 0);
});

test("paths that leave the archive are refused", () => {
  assert.throws(
    () => writeCpio([{ path: "../etc/passwd", data: Buffer.from("x") }]),
    /KILN_ECPIO_PATH|inside/,
  );
  assert.throws(() => writeCpio([{ path: "/", data: Buffer.from("x") }]), { code: "KILN_ECPIO_PATH" });
  assert.throws(
    () =>
      writeCpio([
        { path: "/x", data: Buffer.from("1") },
        { path: "/x/y", data: Buffer.from("2") },
      ]),
    {
      code: "KILN_ECPIO_PATH",
    },
  );
});
