import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isKilnError } from "./errors.js";
import { readUserFile } from "./userFile.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-userfile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("a FIFO with no writer and a device are refused at once, not read", async () => {
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  for (const [path, kind] of [
    [fifo, "a pipe (FIFO)"],
    ["/dev/zero", "a character device"],
  ] as const) {
    await assert.rejects(
      readUserFile(path, "boot configuration", "utf8"),
      (e) =>
        isKilnError(e) &&
        e.code === "KILN_ENOT_FILE" &&
        e.message === `Cannot read boot configuration "${path}": it is ${kind}, not a file`,
    );
  }
});

test("a file reads as readFile reads it; a directory and a missing path fail as they do there", async () => {
  writeFileSync(join(dir, "f"), "text");
  assert.equal(await readUserFile(join(dir, "f"), "x", "utf8"), "text");
  assert.deepEqual(await readUserFile(join(dir, "f"), "x"), Buffer.from("text"));
  await assert.rejects(readUserFile(dir, "x"), { code: "EISDIR" });
  await assert.rejects(readUserFile(join(dir, "none"), "x"), { code: "ENOENT" });
});
