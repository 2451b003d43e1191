import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sha256 } from "./digest.js";
import { acquireLock } from "./lockFile.js";
import { scratchName } from "./scratchName.js";
import { Store } from "./store.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-store-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => new Store(join(dir, `s${n++}`));

function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = `${rel}${e.name}`;
      out.push(e.isDirectory() ? `${r}/` : r);
      if (e.isDirectory()) walk(join(d, e.name), `${r}/`);
    }
  };
  walk(root, "");
  return out.sort();
}

test("put stores bytes and files under their sha256, read-only, and has/path find them", async () => {
  const s = fresh();
  const data = Buffer.from("hello store\n");
  const r = await s.put(data);
  assert.equal(r.sha256, sha256(data));
  assert.equal(r.path, join(s.root, "blobs", "sha256", sha256(data)));
  assert.ok(readFileSync(r.path).equals(data));
  assert.equal(statSync(r.path).mode & 0o777, 0o444);
  assert.equal(await s.has(r.sha256), true);
  assert.equal(s.path(r.sha256), r.path);
  const f = join(dir, "file.bin");
  writeFileSync(f, Buffer.alloc(3_000_000, 7));
  const r2 = await s.put(f, sha256(readFileSync(f)));
  assert.equal(r2.size, 3_000_000);
  assert.ok(readFileSync(r2.path).equals(readFileSync(f)));
  assert.equal(await s.has("0".repeat(64)), false);
  // Nothing but the blobs: no temp files left over.
  assert.deepEqual(readdirSync(join(s.root, "blobs", "sha256")).sort(), [r.sha256, r2.sha256].sort());
  assert.deepEqual(readdirSync(s.root), ["blobs"]);
});

test("a wrong expected digest is KILN_EDIGEST and stores nothing", async () => {
  const s = fresh();
  await s.put(Buffer.from("already here"));
  const before = listing(s.root);
  const f = join(dir, "payload");
  writeFileSync(f, "the real bytes");
  const wrong = sha256("other bytes");
  await assert.rejects(s.put(f, wrong), (e: Error & { code?: string }) => {
    assert.equal(e.code, "KILN_EDIGEST");
    assert.ok(e.message.includes(wrong));
    assert.ok(e.message.includes(sha256("the real bytes")));
    return true;
  });
  await assert.rejects(s.put(Buffer.from("x"), wrong), { code: "KILN_EDIGEST" });
  assert.deepEqual(listing(s.root), before);
});

test("putTree builds once, indexes every file, and a failing fill leaves nothing", async () => {
  const s = fresh();
  let fills = 0;
  const fill = async (root: string) => {
    fills++;
    mkdirSync(join(root, "a/b"), { recursive: true });
    writeFileSync(join(root, "a/b/file"), "content");
    writeFileSync(join(root, "exe"), "#!/bin/sh\n");
    chmodSync(join(root, "exe"), 0o755);
    symlinkSync("a/b/file", join(root, "link"));
  };
  const t = await s.putTree("k1", fill);
  assert.equal(t.root, join(s.root, "trees", "k1", "root"));
  assert.deepEqual(t.index.files, [
    { path: "a/b/file", type: "file", mode: 0o644, size: 7, sha256: sha256("content") },
    { path: "exe", type: "file", mode: 0o755, size: 10, sha256: sha256("#!/bin/sh\n") },
    { path: "link", type: "symlink", mode: 0o777, size: 0, target: "a/b/file" },
  ]);
  await s.putTree("k1", fill);
  assert.equal(fills, 1, "an existing tree is not built again");
  assert.deepEqual((await s.openTree("k1")).index, t.index);

  const before = listing(s.root);
  await assert.rejects(
    s.putTree("k2", async (root) => {
      mkdirSync(root);
      writeFileSync(join(root, "half"), "written before the failure");
      throw new Error("fill failed");
    }),
    /fill failed/,
  );
  assert.deepEqual(listing(s.root), before);
  assert.equal(await s.hasTree("k2"), false);
  await assert.rejects(s.openTree("k2"), { code: "KILN_ESTORE_MISSING" });
});

test("verify finds tampered blobs and tree files, missing and unexpected files", async () => {
  const s = fresh();
  const blob = await s.put(Buffer.from("blob content"));
  await s.putTree("t", async (root) => {
    mkdirSync(root);
    writeFileSync(join(root, "one"), "1");
    writeFileSync(join(root, "two"), "2");
    writeFileSync(join(root, "three"), "3");
  });
  assert.deepEqual((await s.verify()).problems, []);
  const clean = await s.verify();
  assert.deepEqual([clean.blobs, clean.trees, clean.files], [1, 1, 3]);

  chmodSync(blob.path, 0o644);
  writeFileSync(blob.path, "blob c0ntent"); // same size, other bytes
  const root = join(s.root, "trees", "t", "root");
  writeFileSync(join(root, "one"), "9");
  rmSync(join(root, "two"));
  writeFileSync(join(root, "four"), "4");
  const r = await s.verify();
  assert.deepEqual(
    r.problems.map((p) => `${p.path}: ${p.problem}`).sort(),
    [
      `blobs/sha256/${blob.sha256}: digest mismatch`,
      "trees/t/root/four: unexpected",
      "trees/t/root/one: digest mismatch",
      "trees/t/root/two: missing",
    ].sort(),
  );
});

const storeModule = fileURLToPath(new URL("./store.ts", import.meta.url));

/** Another kiln process using the same store. */
function child(code: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      code,
      storeModule,
      ...args,
    ]);
    let out = "";
    let err = "";
    p.stdout.on("data", (b) => (out += b));
    p.stderr.on("data", (b) => (err += b));
    p.on("close", (c) => res({ code: c ?? 1, out, err }));
  });
}

test("two processes putting the same blob and building the same tree both succeed; the tree is built once", async () => {
  const s = fresh();
  const counter = join(dir, `fills-${n}`);
  const code = `
    const { Store } = await import(process.argv[1]);
    const { appendFileSync, mkdirSync, writeFileSync } = await import("node:fs");
    const s = new Store(process.argv[2]);
    const big = Buffer.alloc(8_000_000, 42);
    const [b] = await Promise.all([s.put(big), s.put(big)]);
    const t = await s.putTree("shared", async (root) => {
      appendFileSync(process.argv[3], "fill\\n");
      mkdirSync(root);
      await new Promise((r) => setTimeout(r, 300)); // hold the lock while the other process waits
      writeFileSync(root + "/f", "tree");
    });
    console.log(JSON.stringify({ blob: b.sha256, files: t.index.files.length }));
  `;
  const [a, b] = await Promise.all([child(code, s.root, counter), child(code, s.root, counter)]);
  assert.equal(a.code, 0, a.err);
  assert.equal(b.code, 0, b.err);
  assert.deepEqual(JSON.parse(a.out), JSON.parse(b.out));
  assert.equal(
    readFileSync(counter, "utf8"),
    "fill\n",
    "one process built the tree, the other waited and used it",
  );
  const v = await s.verify();
  assert.deepEqual(v.problems, []);
  assert.equal(v.blobs, 1);
  assert.equal(existsSync(join(s.root, "locks")), false, "locks are released, and their directory removed");
});

test("a lock left by a dead process is broken; a live one makes others wait, then time out", async () => {
  const s = fresh();
  mkdirSync(join(s.root, "locks"), { recursive: true });
  const dead = spawnSync(process.execPath, ["-e", "process.pid"]).pid!;
  const lockPath = join(s.root, "locks", "tree-x.lock");
  writeFileSync(
    lockPath,
    JSON.stringify({ pid: dead, host: (await import("node:os")).hostname(), token: "old" }),
  );
  // What a killed build leaves: a half-built tree beside its place and scratch files.
  const deadName = (stem: string) => scratchName(stem).replace(`.tmp-${process.pid}-`, `.tmp-${dead}-`);
  mkdirSync(join(s.root, "trees", deadName(".x"), "root"), { recursive: true });
  mkdirSync(join(s.root, "tmp", deadName("op")), { recursive: true });
  mkdirSync(join(s.root, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(s.root, "blobs", "sha256", deadName(".blob")), "partial");
  const t = await s.putTree("x", async (root) => {
    mkdirSync(root);
    writeFileSync(join(root, "f"), "ok");
  });
  assert.equal(t.index.files.length, 1);
  assert.equal(existsSync(lockPath), false);
  assert.deepEqual(readdirSync(join(s.root, "trees")), ["x"]);
  assert.equal((await s.verify()).problems.length, 0, "verify skips a put in progress");
  await s.withTmpDir(async () => {});
  assert.deepEqual(readdirSync(join(s.root, "tmp")), []);
  assert.deepEqual(readdirSync(join(s.root, "blobs", "sha256")), []);

  const held = await acquireLock(join(dir, "held.lock"));
  await assert.rejects(
    acquireLock(join(dir, "held.lock"), { timeoutMs: 200 }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_ESTORE_LOCKED");
      assert.match(e.message, new RegExp(`process ${process.pid}`));
      return true;
    },
  );
  await held.release();
  const again = await acquireLock(join(dir, "held.lock"), { timeoutMs: 200 });
  await again.release();
});
