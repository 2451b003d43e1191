import assert from "node:assert/strict";
import {
  linkSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { contentIdentity, identityOf, treeIdentity } from "./fileIdentity.js";

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-identity-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("a rewrite changes a file's identity even with the same size and the mtime put back", (t) => {
  const f = join(scratch(t), "f");
  writeFileSync(f, "good bytes");
  const before = identityOf(f);
  assert.equal(identityOf(f), before, "stable while untouched");
  const { atime, mtime } = statSync(f);
  writeFileSync(f, "evil bytes");
  utimesSync(f, atime, mtime);
  assert.notEqual(identityOf(f), before);
});

test("a hard link moves only the ctime: the content identity stays", (t) => {
  const dir = scratch(t);
  const f = join(dir, "kernel");
  writeFileSync(f, "x");
  const before = identityOf(f);
  linkSync(f, join(dir, "again"));
  const after = identityOf(f);
  assert.notEqual(after, before);
  assert.equal(contentIdentity(after), contentIdentity(before));
  writeFileSync(f, "y");
  assert.notEqual(contentIdentity(identityOf(f)), contentIdentity(before), "a write shows without ctimes");
});

test("a symlink is itself and its target; a missing path is its error", (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, "a"), "a");
  writeFileSync(join(dir, "b"), "b");
  const link = join(dir, "link");
  symlinkSync("a", link);
  const toA = identityOf(link);
  assert.match(toA, />/);
  writeFileSync(join(dir, "a"), "changed");
  assert.notEqual(identityOf(link), toA, "the target's change shows through the link");
  unlinkSync(join(dir, "a"));
  assert.match(identityOf(link), />missing:ENOENT$/);
  assert.equal(identityOf(join(dir, "none")), "missing:ENOENT");
  assert.equal(contentIdentity("missing:ENOENT"), "missing:ENOENT");
});

test("a tree's identity changes with any file in it, and a file added", (t) => {
  const dir = scratch(t);
  writeFileSync(join(dir, "top"), "");
  const before = treeIdentity(dir);
  assert.equal(treeIdentity(dir), before);
  writeFileSync(join(dir, "added"), "");
  const added = treeIdentity(dir);
  assert.notEqual(added, before);
  writeFileSync(join(dir, "top"), "");
  assert.notEqual(treeIdentity(dir), added, "the same (empty) bytes written again");
  assert.throws(() => treeIdentity(join(dir, "none")), /ENOENT/);
});
