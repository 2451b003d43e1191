// Every disk format: what the consuming tools say about it, and the same bytes from the same inputs.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { sha256File } from "../../src/core/digest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { helloImage } from "./imageFixture.js";

const FORMATS = ["raw-bios", "raw-uefi", "raw", "iso", "qcow2", "vmdk", "vhd", "gce"] as const;
let image = "";
const tmp = tmpDir("kiln-image-formats-");
const made: Record<string, { file: string; sha256: string; size: number; details: Record<string, unknown> }> =
  {};

before(async () => {
  image = await helloImage();
  // Each format twice, into two directories under the same file name (VMDK records its own name).
  for (const round of ["a", "b"]) {
    mkdirSync(join(tmp.path, round));
    for (const f of FORMATS) {
      const file = join(tmp.path, round, `hello.${f}`);
      const r = await runKiln(["image", f, image, "-o", file, "--json"]);
      assert.equal(r.code, 0, `${f}: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      if (round === "a") made[f] = { file, sha256: j.sha256, size: j.size, details: j.details };
      else made[`${f}.b`] = { file, sha256: j.sha256, size: j.size, details: j.details };
    }
  }
});
after(() => tmp.cleanup());

const qemuImg = (...args: string[]) => execFileSync("qemu-img", args, { encoding: "utf8" });

test("same image, same options: the same bytes for every format", async () => {
  for (const f of FORMATS) {
    const a = made[f]!;
    const b = made[`${f}.b`]!;
    assert.equal(a.sha256, b.sha256, `${f} differs between two runs`);
    assert.equal(await sha256File(a.file), a.sha256, `${f}: reported sha256 is the file's`);
    assert.equal(statSync(a.file).size, a.size);
  }
});

test("the image is not modified by making launchables", async () => {
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  assert.equal(await sha256File(join(image, m.kernel.file)), m.kernel.sha256);
  assert.equal(await sha256File(join(image, m.initrd.file)), m.initrd.sha256);
});

test("raw-bios: MBR with one bootable FAT16 partition at 1 MiB, syslinux boot code", () => {
  const file = made["raw-bios"]!.file;
  const d = JSON.parse(execFileSync("sfdisk", ["--json", file], { encoding: "utf8" })).partitiontable;
  assert.equal(d.label, "dos");
  assert.equal(d.partitions.length, 1);
  assert.equal(d.partitions[0].start, 2048);
  assert.equal(d.partitions[0].type, "6");
  assert.equal(d.partitions[0].bootable, true);
  const mbr = readFileSync(file).subarray(0, 440);
  assert.ok(mbr.equals(readFileSync("/usr/lib/syslinux/mbr/mbr.bin")));
  const dir = execFileSync("mdir", ["-a", "-b", "-i", `${file}@@1048576`, "::"], {
    encoding: "utf8",
    env: { ...process.env, MTOOLS_SKIP_CHECK: "1" },
  });
  for (const f of ["VMLINUZ", "INITRD", "SYSLINUX.CFG", "LDLINUX.SYS", "LDLINUX.C32"]) {
    assert.match(dir.toUpperCase(), new RegExp(`::/${f.replace(".", "\\.")}`));
  }
});

test("raw-uefi: GPT with one EFI System Partition holding \\EFI\\BOOT\\BOOTX64.EFI (a PE image)", () => {
  const file = made["raw-uefi"]!.file;
  const d = JSON.parse(execFileSync("sfdisk", ["--json", file], { encoding: "utf8" })).partitiontable;
  assert.equal(d.label, "gpt");
  assert.equal(d.id, String(made["raw-uefi"]!.details.diskId).toUpperCase());
  assert.equal(d.partitions[0].type, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
  const efi = execFileSync("mtype", ["-i", `${file}@@1048576`, "::/EFI/BOOT/BOOTX64.EFI"], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: "1" },
    maxBuffer: 1 << 26,
  });
  assert.equal(efi.toString("latin1", 0, 2), "MZ");
  assert.ok(efi.includes(Buffer.from(".cmdline")) && efi.includes(Buffer.from(".linux")));
});

test("qcow2, vmdk, vhd: qemu-img reads the right format and virtual size, and finds no errors", () => {
  const rawSize = (made.qcow2!.details.sizeMB as number) * 1024 * 1024;
  for (const [f, qf] of [
    ["qcow2", "qcow2"],
    ["vmdk", "vmdk"],
    ["vhd", "vpc"],
  ] as const) {
    // A fixed VHD has its footer only at the end, which qemu-img does not probe for: name the format.
    const info = JSON.parse(qemuImg("info", "-f", qf, "--output=json", made[f]!.file));
    assert.equal(info.format, qf);
    assert.equal(info["virtual-size"], rawSize, f);
    if (f !== "vhd") qemuImg("check", "-f", qf, made[f]!.file);
  }
  const vmdk = JSON.parse(qemuImg("info", "--output=json", made.vmdk!.file));
  assert.equal(vmdk["format-specific"].data["create-type"], "streamOptimized");
  assert.equal(rawSize % (1024 * 1024), 0, "Azure wants a whole number of MiB");
  assert.equal(made.vhd!.size, rawSize + 512, "fixed VHD: the disk and a 512-byte footer");
});

test("gce: a gzipped oldgnu tar holding a sparse disk.raw of whole GiB with a bootable GPT", () => {
  const file = made.gce!.file;
  const gz = readFileSync(file);
  assert.equal(gz.readUInt32LE(4), 0, "no time in the gzip header");
  const list = execFileSync("tar", ["-tvzf", file], { encoding: "utf8" }).trim().split("\n");
  assert.equal(list.length, 1);
  assert.match(list[0]!, /^-rw-r--r-- 0\/0\s+1073741824 1980-01-01 00:00 disk\.raw$/);
  const x = join(tmp.path, "gce-x");
  mkdirSync(x);
  execFileSync("tar", ["-xzf", file, "-C", x]);
  const raw = join(x, "disk.raw");
  assert.equal(statSync(raw).size % (1 << 30), 0);
  const d = JSON.parse(execFileSync("sfdisk", ["--json", raw], { encoding: "utf8" })).partitiontable;
  assert.equal(d.label, "gpt");
  assert.match(d.partitions[0].attrs ?? "", /LegacyBIOSBootable/);
});
