import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fixVhdFooter, vhdChecksum } from "./vhdFooter.js";
import { setVmdkCid } from "./vmdkHeader.js";

function rawDisk(dir: string): string {
  const raw = join(dir, "disk.raw");
  writeFileSync(raw, "");
  truncateSync(raw, 4 << 20);
  return raw;
}

test("VHD: our checksum is qemu-img's; after fixing, two conversions are identical and qemu-img reads them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-vhd-"));
  try {
    const raw = rawDisk(dir);
    const outs = ["a", "b"].map((n) => join(dir, n, "disk.vhd"));
    for (const out of outs) {
      execFileSync("mkdir", ["-p", join(out, "..")]);
      execFileSync("qemu-img", [
        "convert",
        "-f",
        "raw",
        "-O",
        "vpc",
        "-o",
        "subformat=fixed,force_size=on",
        raw,
        out,
      ]);
      const footer = readFileSync(out).subarray(-512);
      assert.equal(vhdChecksum(footer), footer.readUInt32BE(64));
    }
    assert.ok(
      !readFileSync(outs[0]!)
        .subarray(-512)
        .subarray(68, 84)
        .equals(readFileSync(outs[1]!).subarray(-512).subarray(68, 84)),
      "qemu-img draws a random unique id",
    );
    const uniqueId = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    for (const out of outs) await fixVhdFooter(out, { timestamp: 0, uniqueId });
    assert.ok(readFileSync(outs[0]!).equals(readFileSync(outs[1]!)));
    const footer = readFileSync(outs[0]!).subarray(-512);
    assert.equal(vhdChecksum(footer), footer.readUInt32BE(64));
    assert.equal(footer.readUInt32BE(24), 0);
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "-f", "vpc", "--output=json", outs[0]!], { encoding: "utf8" }),
    );
    assert.equal(info.format, "vpc");
    assert.equal(info["virtual-size"], 4 << 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("VMDK: the content id we set is the one qemu-img reads, and the image still checks", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-vmdk-"));
  try {
    const raw = rawDisk(dir);
    const out = join(dir, "disk.vmdk");
    execFileSync("qemu-img", [
      "convert",
      "-f",
      "raw",
      "-O",
      "vmdk",
      "-o",
      "subformat=streamOptimized",
      raw,
      out,
    ]);
    // qemu-img writes the CID without leading zeros: make it a short one, as one in 16 of its draws is.
    const buf = readFileSync(out);
    const start = Number(buf.readBigUInt64LE(28)) * 512;
    const size = Number(buf.readBigUInt64LE(36)) * 512;
    const text = buf.toString("latin1", start, buf.indexOf(0, start)).replace(/^CID=\w+$/m, "CID=abc");
    buf.fill(0, start, start + size);
    buf.write(text, start, "latin1");
    writeFileSync(out, buf);
    execFileSync("qemu-img", ["check", out]);
    assert.match(execFileSync("qemu-img", ["info", out], { encoding: "utf8" }), /cid: 2748\b/);
    await setVmdkCid(out, 0x0234abcd);
    const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", out], { encoding: "utf8" }));
    assert.equal(info["format-specific"].data.cid, 0x0234abcd);
    assert.match(readFileSync(out).toString("latin1", 512, 1024), /^CID=0234abcd$/m);
    execFileSync("qemu-img", ["check", out]);
    await assert.rejects(setVmdkCid(raw, 1), { code: "KILN_EVMDK_INVALID" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
