import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { writeOutput } from "./outputPath.js";

const root = mkdtempSync(join(tmpdir(), "kiln-output-unit-"));
const env = { ...process.env, KILN_HOME: join(root, "home") };
after(() => rmSync(root, { recursive: true, force: true }));

const fillDir = async (dir: string) => {
  await mkdir(join(dir, "sub"));
  await writeFile(join(dir, "sub", "new.txt"), "new");
};

test("--force over a directory: a failure part-way leaves the old tree; success leaves only the new one", async () => {
  const out = join(root, "tree");
  mkdirSync(join(out, "deep"), { recursive: true });
  writeFileSync(join(out, "deep", "old.txt"), "old");
  const opts = { kind: "dir" as const, force: true, env };
  await assert.rejects(
    writeOutput(out, opts, async (dir) => {
      await fillDir(dir);
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.equal(readFileSync(join(out, "deep", "old.txt"), "utf8"), "old");
  assert.deepEqual(readdirSync(root).sort(), ["tree"], "no temporary directory left beside it");
  await writeOutput(out, opts, fillDir);
  assert.deepEqual(readdirSync(out), ["sub"]);
  assert.deepEqual(readdirSync(root).sort(), ["home", "tree"]);
});

test("kiln's own output is replaced without --force until someone changes it, even to the same bytes", async () => {
  const out = join(root, "file.txt");
  const opts = { kind: "file" as const, env };
  await writeOutput(out, opts, (tmp) => writeFile(tmp, "one"));
  await writeOutput(out, opts, (tmp) => writeFile(tmp, "two"));
  assert.equal(readFileSync(out, "utf8"), "two");
  // File times tick with the kernel's clock (a few ms): a change in the same tick would look like none.
  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(out, "two");
  await assert.rejects(
    writeOutput(out, opts, (tmp) => writeFile(tmp, "three")),
    (e: { code?: string }) => e.code === "KILN_EOUT_EXISTS",
  );
  assert.equal(readFileSync(out, "utf8"), "two");
});
