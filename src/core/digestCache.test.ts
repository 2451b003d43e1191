import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileDigest, rememberDigests } from "./digestCache.js";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

test("a remembered digest serves until the file changes, even when the change keeps size and mtime", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-digests-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, KILN_HOME: join(dir, "home") };
  const f = join(dir, "kernel");
  writeFileSync(f, "good bytes");
  await rememberDigests([{ path: f, sha256: sha("good bytes") }], { env });
  assert.deepEqual(await fileDigest(f, { env }), { sha256: sha("good bytes"), size: 10, cached: true });

  // Damage of the same size with the mtime put back: the ctime still moves, so the bytes are read again.
  const { atime, mtime } = statSync(f);
  writeFileSync(f, "evil bytes");
  utimesSync(f, atime, mtime);
  const after = await fileDigest(f, { env });
  assert.equal(after.cached, false);
  assert.equal(after.sha256, sha("evil bytes"));
  assert.deepEqual(await fileDigest(f, { env }), { ...after, cached: true });
});

test("symlinks and missing files are not digested", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-digests-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, KILN_HOME: join(dir, "home") };
  await assert.rejects(fileDigest(join(dir, "missing"), { env }), { code: "ENOENT" });
  const { symlinkSync } = await import("node:fs");
  writeFileSync(join(dir, "target"), "x");
  symlinkSync(join(dir, "target"), join(dir, "link"));
  await assert.rejects(fileDigest(join(dir, "link"), { env }), { code: "ELOOP" });
});
