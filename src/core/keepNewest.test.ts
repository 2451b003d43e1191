import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { keepNewest } from "./keepNewest.js";

function dirWith(t: { after(fn: () => void): void }, files: Record<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), "kiln-keep-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, age] of Object.entries(files)) {
    writeFileSync(join(dir, name), "");
    utimesSync(join(dir, name), 1000 + age, 1000 + age);
  }
  return dir;
}

test("the newest entries by their own mtime stay; other names are not counted or touched", async (t) => {
  const dir = dirWith(t, { "a.elf": 1, "b.elf": 3, "c.elf": 2, "note.txt": 0 });
  await keepNewest(dir, { suffix: ".elf", keep: 2 });
  assert.deepEqual(readdirSync(dir).sort(), ["b.elf", "c.elf", "note.txt"]);
  await keepNewest(dir, { suffix: ".elf", keep: 2 });
  assert.deepEqual(readdirSync(dir).sort(), ["b.elf", "c.elf", "note.txt"], "at the bound, nothing goes");
});

test("use can be read from a companion file, and removal done by the caller", async (t) => {
  // The entries' own times say the opposite of their companions'.
  const dir = dirWith(t, { "x.state": 9, "x.json": 1, "y.state": 1, "y.json": 9, "z.state": 5 });
  await keepNewest(dir, {
    suffix: ".state",
    keep: 1,
    usedBy: (p) => p.replace(/\.state$/, ".json"),
    remove: async (p) => {
      await rm(p);
      await rm(p.replace(/\.state$/, ".json"), { force: true });
    },
  });
  // z has no companion: the oldest.
  assert.deepEqual(readdirSync(dir).sort(), ["y.json", "y.state"]);
});
