import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readImage } from "../manifest/imageManifest.js";
import { detectLaunchable, xenMemoryMB } from "./bootLaunchable.js";
import { getFormat } from "./format.js";
import { launchableBootConfig } from "./launchableBootConfig.js";
import { syslinuxMultiboot } from "./syslinuxConfig.js";

// A Xen host's image in miniature: what the launchables copy is real syslinux, mtools, sfdisk and xorriso
// work; the kernel, initrd and hypervisor are filler (nothing boots here).
const work = mkdtempSync(join(tmpdir(), "kiln-bootcfg-"));
const env = { ...process.env, KILN_HOME: join(work, "home") };
after(() => rmSync(work, { recursive: true, force: true }));

function fakeImage(hypervisor: boolean): string {
  const dir = join(work, hypervisor ? "xen-host" : "plain");
  mkdirSync(dir);
  const part = (file: string, fill: number) => {
    const data = Buffer.alloc(64 * 1024, fill);
    writeFileSync(join(dir, file), data);
    return { file, sha256: createHash("sha256").update(data).digest("hex"), size: data.length };
  };
  const manifest = {
    v: 1,
    name: hypervisor ? "xen-host" : "plain",
    kernel: { ...part("kernel", 1), format: "bzimage", kind: "stock", release: "6.1" },
    initrd: { ...part("initrd", 2), entries: 1 },
    ...(hypervisor
      ? {
          hypervisor: {
            ...part("hypervisor", 3),
            name: "xen",
            format: "elf",
            package: "xen-hypervisor-4.17-amd64",
            version: "4.17",
            cmdline: "console=com1",
          },
        }
      : {}),
    cmdline: "console=ttyS0 quiet",
    components: [],
    modules: [],
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
  return dir;
}

const xen = fakeImage(true);
const plain = fakeImage(false);

async function make(format: string, dir: string, out: string, opts: Record<string, unknown> = {}) {
  const file = join(work, out);
  await (await getFormat(format)).make(await readImage(dir), file, { env, ...opts });
  return file;
}

async function configOf(file: string, qemuFormat?: string) {
  const kind = await detectLaunchable(file);
  return launchableBootConfig(file, kind, { env, ...(qemuFormat ? { qemuFormat } : {}) });
}

test("raw-bios, FAT16: the syslinux.cfg the disk boots with is read back from its active partition", async () => {
  const file = await make("raw-bios", xen, "host.img", { hypervisorCmdline: "dom0_mem=2G,max:2G" });
  const cfg = await configOf(file);
  // What mtools reads from the same partition is what the launcher read, byte for byte.
  assert.equal(cfg, execFileSync("mtype", ["-i", `${file}@@1M`, "::/syslinux.cfg"], { encoding: "latin1" }));
  assert.deepEqual(syslinuxMultiboot(cfg!)?.cmdline, "console=com1 dom0_mem=2G,max:2G");
  assert.equal(xenMemoryMB(syslinuxMultiboot(cfg!)!.cmdline), 2048 + 256);
});

test("FAT32 with a long-named neighbour; a disk through qcow2 and VMDK (qemu-img dd of its head)", async () => {
  // FAT32 as mkfs.fat makes it for a disk of 2 GiB or more (src/image/fatFilesystem.ts), here in 40 MiB.
  const file = join(work, "fat32.img");
  execFileSync("truncate", ["-s", "40M", file]);
  execFileSync("/usr/sbin/sfdisk", ["-q", file], { input: "label: dos\nstart=2048, type=c, bootable\n" });
  execFileSync("/usr/sbin/mkfs.fat", ["-F32", "--offset=2048", file, String(39 * 1024)], { stdio: "ignore" });
  const cfg = "DEFAULT x\nLABEL x\n  KERNEL mboot.c32\n  APPEND /xen dom0_mem=3G --- /vmlinuz --- /initrd\n";
  const src = join(work, "syslinux.cfg");
  writeFileSync(src, cfg);
  const mt = { env: { ...process.env, MTOOLS_SKIP_CHECK: "1" } };
  writeFileSync(join(work, "a long file name.txt"), "x");
  execFileSync("mcopy", ["-i", `${file}@@1M`, join(work, "a long file name.txt"), "::/"], mt);
  execFileSync("mcopy", ["-i", `${file}@@1M`, src, "::/syslinux.cfg"], mt);
  assert.equal(readFileSync(file).toString("latin1", 1048576 + 82, 1048576 + 87), "FAT32");
  assert.equal(await configOf(file), cfg);
  const host = await make("raw-bios", xen, "host2.img");
  for (const [fmt, opts] of [
    ["qcow2", []],
    ["vmdk", ["-o", "subformat=streamOptimized"]],
  ] as const) {
    const out = join(work, `host.${fmt}`);
    execFileSync("qemu-img", ["convert", "-O", fmt, ...opts, host, out]);
    assert.equal(await configOf(out, fmt), await configOf(host), fmt);
  }
});

test("iso: isolinux.cfg read from ISO 9660; a hybrid disk's legacy partition; none on a UEFI-only disk", async () => {
  const iso = await make("iso", xen, "host.iso");
  const cfg = await configOf(iso);
  assert.equal(syslinuxMultiboot(cfg!)?.hypervisor, "/xen");
  const extracted = join(work, "isolinux.cfg");
  execFileSync(
    "xorriso",
    ["-osirrox", "on", "-indev", iso, "-extract", "/isolinux/isolinux.cfg", extracted],
    {
      stdio: "ignore",
    },
  );
  assert.equal(cfg, readFileSync(extracted, "latin1"));
  // The plain image's hybrid disk boots its kernel directly: a config, and no hypervisor in it.
  const raw = await make("raw", plain, "plain.img");
  assert.equal(await detectLaunchable(raw), "raw-bios", "filler kernel: no EFI stub, a BIOS disk");
  const plainCfg = await configOf(raw);
  assert.match(plainCfg!, /LINUX \/vmlinuz/);
  assert.equal(syslinuxMultiboot(plainCfg!), undefined);
  assert.equal(await launchableBootConfig(raw, "raw-uefi"), undefined);
});

test("memory for Xen: dom0_mem's amount (else its min) in any unit, plus Xen's own; relative sizes get a floor", () => {
  assert.equal(xenMemoryMB("console=com1 dom0_mem=1024M,max:1024M"), 1280);
  assert.equal(xenMemoryMB("dom0_mem=max:4G,2G"), 2048 + 256);
  assert.equal(xenMemoryMB("dom0_mem=min:512M,max:4G"), 512 + 256);
  assert.equal(xenMemoryMB("dom0_mem=1048576"), 1024 + 256, "KiB when no unit is given");
  assert.equal(xenMemoryMB("dom0_mem=1G dom0_mem=3G"), 3072 + 256, "the last one counts");
  assert.equal(xenMemoryMB("dom0_mem=40%"), 512 + 256);
  assert.equal(xenMemoryMB("console=com1"), 512 + 256);
});
