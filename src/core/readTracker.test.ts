import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs, { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { open, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { identityOf } from "./fileIdentity.js";
import { trackReads } from "./readTracker.js";

function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-tracker-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test("reads in every form are inputs, with what each was when first read; writes are the work's own", async (t) => {
  const dir = scratch(t);
  const a = join(dir, "a");
  const b = join(dir, "b");
  const c = join(dir, "c");
  const d = join(dir, "d");
  const e = join(dir, "e");
  for (const f of [a, b, c, e]) writeFileSync(f, f);
  mkdirSync(d);
  const aBefore = identityOf(a);
  const stop = trackReads();
  let tracked: ReturnType<typeof stop>;
  try {
    await readFile(a, "utf8"); // an ES module's named import of node:fs/promises
    writeFileSync(a, "changed after the first read"); // written by the work itself, too
    readFileSync(a);
    await stat(b);
    await new Promise((res) => fs.readFile(c, res)); // the callback form
    await readdir(d);
    (await open(e)).close(); // opened to read
    (await open(join(dir, "written"), "w")).close(); // opened to write
    await writeFile(join(d, "new"), "");
    await readFile(join(dir, "missing")).catch(() => undefined);
    assert.equal(realpathSync.native(dir), realpathSync(dir), "realpathSync.native still there");
  } finally {
    tracked = stop();
  }
  assert.deepEqual(
    [...tracked.inputs.keys()],
    [a, b, c, d, e, join(dir, "missing"), dir],
    "every path read, once, in order",
  );
  assert.equal(tracked.inputs.get(a), aBefore, "as it was at the first read, not as it is now");
  assert.equal(tracked.inputs.get(join(dir, "missing")), "missing:ENOENT");
  assert.deepEqual([...tracked.wrote].sort(), [a, join(d, "new"), join(dir, "written")]);
  assert.deepEqual(tracked.spawned, []);
});

test("a process started while tracking is noted; stopping restores fs and child_process", (t) => {
  const dir = scratch(t);
  const origRead = fs.readFileSync;
  const stop = trackReads();
  assert.notEqual(fs.readFileSync, origRead, "wrapped while tracking");
  assert.throws(() => trackReads(), /already tracking/);
  spawnSync("true");
  const tracked = stop();
  assert.deepEqual(tracked.spawned, ["true"]);
  assert.equal(fs.readFileSync, origRead);
  writeFileSync(join(dir, "late"), "");
  readFileSync(join(dir, "late"));
  assert.equal(tracked.inputs.size, 0, "nothing recorded after stopping");
  assert.equal(stop(), tracked, "stopping twice gives the same record");
  trackReads()(); // and tracking can start again
});
