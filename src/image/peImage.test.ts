import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { firmwareFile } from "./firmware.js";
import { fixPeTimestamp, peChecksum, readPeHeaders } from "./peImage.js";

test("PE: our checksum is objcopy's; fixing the time stamp keeps the image valid for objdump", async () => {
  const stub = await firmwareFile("efiStub");
  const dir = mkdtempSync(join(tmpdir(), "kiln-pe-"));
  try {
    writeFileSync(join(dir, "cmdline"), "console=ttyS0 quiet");
    const out = join(dir, "uki.efi");
    execFileSync("objcopy", [
      "--add-section",
      `.cmdline=${join(dir, "cmdline")}`,
      "--change-section-vma",
      ".cmdline=0x30000",
      stub,
      out,
    ]);
    const buf = readFileSync(out);
    const h = readPeHeaders(buf);
    assert.ok(h.timestamp > 0, "objcopy stamps the current time");
    assert.ok(h.checksum !== 0);
    assert.equal(peChecksum(buf, h.optional + 64), h.checksum);
    assert.equal(h.sections.at(-1)?.name, ".cmdline");
    assert.equal(h.sections.at(-1)?.virtualAddress, 0x30000);
    const shifted = Buffer.concat([Buffer.alloc(1), buf]).subarray(1);
    assert.equal(shifted.byteOffset & 1, 1, "an odd offset takes the byte-wise path");
    assert.equal(peChecksum(shifted, h.optional + 64), h.checksum);
    fixPeTimestamp(buf, 0);
    const fixed = readPeHeaders(buf);
    assert.equal(fixed.timestamp, 0);
    assert.equal(peChecksum(buf, fixed.optional + 64), fixed.checksum);
    assert.notEqual(fixed.checksum, h.checksum);
    writeFileSync(out, buf);
    const dump = execFileSync("objdump", ["-p", out], { encoding: "utf8" });
    assert.match(dump, /Time\/Date\s+Thu Jan {2}1 00:00:00 1970/);
    assert.match(dump, new RegExp(`CheckSum\\s+0*${fixed.checksum.toString(16)}\\b`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PE: a file that is not PE32+ is KILN_EPE_INVALID", () => {
  assert.throws(() => readPeHeaders(Buffer.from("#!/bin/sh\n".padEnd(512, " ")), "x"), {
    code: "KILN_EPE_INVALID",
  });
});
