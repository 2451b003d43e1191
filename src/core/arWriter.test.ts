import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readArMembers } from "./ar.js";
import { arArchive } from "./arWriter.js";
import { isKilnError } from "./errors.js";

const members = [
  { name: "debian-binary", data: Buffer.from("2.0\n") },
  { name: "odd.bin", data: Buffer.from("abc") },
  { name: "empty", data: Buffer.alloc(0) },
];

test("binutils ar lists and extracts the members, odd sizes padded", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-arw-"));
  try {
    const file = join(dir, "x.a");
    writeFileSync(file, arArchive(members, 1_700_000_000));
    assert.deepEqual(execFileSync("ar", ["t", file], { encoding: "utf8" }).trim().split("\n"), [
      "debian-binary",
      "odd.bin",
      "empty",
    ]);
    assert.equal(execFileSync("ar", ["p", file, "odd.bin"], { encoding: "utf8" }), "abc");
    assert.equal(execFileSync("ar", ["p", file, "debian-binary"], { encoding: "utf8" }), "2.0\n");
    const verbose = execFileSync("ar", ["tv", file], { encoding: "utf8", env: { TZ: "UTC" } });
    assert.match(verbose, /rw-r--r-- 0\/0 +3 Nov 14 22:13 2023 odd\.bin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("kiln's own ar reader finds the members where the writer put them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-arw-"));
  try {
    const file = join(dir, "x.a");
    const buf = arArchive(members);
    writeFileSync(file, buf);
    const read = await readArMembers(file);
    assert.deepEqual(
      read.map((m) => [m.name, m.size, buf.subarray(m.offset, m.offset + m.size).toString()]),
      members.map((m) => [m.name, m.data.length, m.data.toString()]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("names an ar header cannot hold are refused", () => {
  for (const name of ["", "a/b", "sixteen-chars-xx"]) {
    assert.throws(
      () => arArchive([{ name, data: Buffer.alloc(1) }]),
      (e) => isKilnError(e) && e.code === "KILN_EAR_NAME",
    );
  }
});
