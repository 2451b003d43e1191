import { open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q, usageError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import type { Image } from "../manifest/imageManifest.js";
import { biosBoot } from "./biosBoot.js";
import { diskIds } from "./diskIds.js";
import { type FatFile, fatBits, makeFat } from "./fatFilesystem.js";
import { firmwareFile } from "./firmware.js";
import type { FormatOptions, LaunchableFormat } from "./format.js";
import { runTool } from "./hostTool.js";
import { writeLaunchable } from "./launchableOutput.js";
import { gptScript, mbrScript, writePartitionTable } from "./partitionTable.js";
import { makeUki, notUefiBootable, uefiBootable } from "./uki.js";

/**
 * How a raw disk boots:
 * - bios: MBR, one bootable FAT partition with syslinux, kernel and initrd (SeaBIOS, any PC BIOS).
 * - uefi: GPT, one EFI System Partition with a unified kernel image at \EFI\BOOT\BOOTX64.EFI.
 * - hybrid: both on one GPT disk: the ESP holds the UKI and syslinux; syslinux's gptmbr.bin in the
 *   protective MBR boots the partition marked LegacyBIOSBootable. Clouds pick BIOS or UEFI per machine
 *   type, so the cloud formats (qcow2, vmdk, vhd, gce) are made from this one.
 * An image UEFI cannot start from such a disk (a kernel without EFI stub, a hypervisor to load first) gets
 * no uefi disk, and a bios disk for hybrid.
 */
export type DiskScheme = "bios" | "uefi" | "hybrid";

export interface RawDiskOptions {
  scheme: DiskScheme;
  /** The identifiers derive from this (the launchable format's name). */
  format: string;
  sizeMB?: number;
  /** Default sizes are rounded up to a multiple of this (GCE wants whole GiB). */
  granularityMB?: number;
  cmdline?: string;
  hypervisorCmdline?: string;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  workDir: string;
}

export interface RawDiskResult extends Record<string, unknown> {
  scheme: DiskScheme;
  sizeMB: number;
  partition: { start: number; size: number; fat: 16 | 32 };
  cmdline: string;
  /** The hypervisor syslinux loads first, and its command line. */
  hypervisor?: { name: string; cmdline: string };
  diskId: string;
}

const MiB = 1024 * 1024;
const START = 2048; // sectors: the first partition at 1 MiB, as every partitioning tool does
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** FAT space the files need: whole 4 KiB clusters each, 1 MiB for FATs and root directory, syslinux's own files. */
export function fatBytesNeeded(fileSizes: readonly number[], syslinux: boolean): number {
  const data = fileSizes.reduce((n, s) => n + alignUp(Math.max(s, 1), 4096), 0);
  return data + MiB + (syslinux ? 256 * 1024 : 0);
}

/** The disk size to use in MiB: given, or the smallest that fits (at least 8 MiB of FAT). */
export function planDiskMB(
  neededFatBytes: number,
  gpt: boolean,
  opts: { sizeMB?: number; granularityMB?: number; name: string },
): number {
  const overhead = 1 + (gpt ? 1 : 0); // MiB before the partition, and the backup GPT after it
  const fitMB = Math.max(8, Math.ceil((neededFatBytes * 1.02) / MiB)) + overhead;
  const minMB = alignUp(fitMB, opts.granularityMB ?? 1);
  if (opts.sizeMB === undefined) return minMB;
  if (!Number.isInteger(opts.sizeMB) || opts.sizeMB <= 0) {
    throw usageError(
      "KILN_ESIZE_INVALID",
      `Cannot make a disk of ${q(opts.sizeMB)} MiB: the size must be a whole number of MiB`,
      "Give --size as a positive integer, like --size 64.",
    );
  }
  if (opts.granularityMB && opts.sizeMB % opts.granularityMB !== 0) {
    throw usageError(
      "KILN_ESIZE_INVALID",
      `Cannot make a disk of ${opts.sizeMB} MiB: this format needs a multiple of ${opts.granularityMB} MiB`,
      `Give --size ${alignUp(opts.sizeMB, opts.granularityMB)}.`,
    );
  }
  if (opts.sizeMB < fitMB) {
    throw usageError(
      "KILN_EDISK_TOO_SMALL",
      `Cannot fit image ${q(opts.name)} on a disk of ${opts.sizeMB} MiB: it needs at least ${minMB} MiB`,
      `Give --size ${minMB} or more, or leave --size out.`,
      { sizeMB: opts.sizeMB, neededMB: minMB },
    );
  }
  return opts.sizeMB;
}

/** Write a bootable raw disk to `file` (which must not exist yet). Needs no root and no loop device. */
export async function buildRawDisk(image: Image, file: string, opts: RawDiskOptions): Promise<RawDiskResult> {
  const m = image.manifest;
  const env = opts.env;
  const envOpt = env ? { env } : {};
  const efi = await uefiBootable(image);
  if (opts.scheme === "uefi" && !efi) throw notUefiBootable(image, opts.format);
  const boot = await biosBoot(image, {
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    ...(opts.hypervisorCmdline !== undefined ? { hypervisorCmdline: opts.hypervisorCmdline } : {}),
    ...envOpt,
  });
  const cmdline = boot.cmdline;
  const scheme: DiskScheme = opts.scheme === "hybrid" && !efi ? "bios" : opts.scheme;
  const bios = scheme !== "uefi";
  const gpt = scheme !== "bios";
  // Look firmware up before any work, so a missing file fails fast.
  const bootCode = bios ? await firmwareFile(gpt ? "gptmbr" : "mbr", env) : undefined;
  if (gpt) await firmwareFile("efiStub", env);

  const files: FatFile[] = [];
  if (bios) {
    // The configuration first: it then sits at the start of the data area, where a launcher finds it
    // cheaply even through a qcow2 or VMDK (src/image/launchableBootConfig.ts).
    const cfg = join(opts.workDir, "syslinux.cfg");
    await writeFile(cfg, boot.config);
    files.push({ src: cfg, dest: "/syslinux.cfg" });
    files.push(...boot.modules.map((x) => ({ src: x.src, dest: `/${x.name}` })), ...boot.files);
  }
  const kernelBytes = (await stat(image.kernel)).size + (await stat(image.initrd)).size;
  const sizes = [...(bios ? [boot.bytes, 4096] : []), ...(gpt ? [kernelBytes + 256 * 1024] : [])];
  const sizeMB = planDiskMB(fatBytesNeeded(sizes, bios), gpt, {
    ...(opts.sizeMB !== undefined ? { sizeMB: opts.sizeMB } : {}),
    ...(opts.granularityMB ? { granularityMB: opts.granularityMB } : {}),
    name: m.name,
  });
  if (gpt) {
    opts.progress?.step("unified kernel image");
    const uki = await makeUki(image, { cmdline, workDir: opts.workDir, ...envOpt });
    files.push({ src: uki, dest: "/EFI/BOOT/BOOTX64.EFI" });
  }

  opts.progress?.step(`${scheme} disk, ${sizeMB} MiB`);
  const ids = diskIds(m, opts.format, [
    opts.scheme,
    sizeMB,
    cmdline,
    ...(boot.hypervisor ? [boot.hypervisor.cmdline] : []),
  ]);
  const totalSectors = (sizeMB * MiB) / 512;
  // GPT keeps 33 sectors at the end for its backup; leave the last MiB free so the partition stays aligned.
  const partSize = totalSectors - START - (gpt ? 2048 : 0);
  const fh = await open(file, "wx");
  try {
    await fh.truncate(sizeMB * MiB);
  } finally {
    await fh.close();
  }
  await writePartitionTable(
    file,
    gpt
      ? gptScript({
          start: START,
          size: partSize,
          diskGuid: ids.diskGuid,
          partGuid: ids.partGuid,
          name: "EFI System",
          legacyBiosBootable: bios,
        })
      : mbrScript({
          start: START,
          size: partSize,
          signature: ids.mbrSignature,
          // FAT16 (over 32 MiB) or FAT32 with LBA, matching what makeFat will write.
          type: fatBits(partSize * 512) === 16 ? "6" : "c",
          bootable: true,
        }),
    env,
  );
  const fat = await makeFat({
    file,
    offsetBytes: START * 512,
    sizeBytes: partSize * 512,
    label: "KILN",
    volumeId: ids.volumeId,
    files,
    ...envOpt,
  });
  if (bios && bootCode) {
    await runTool("syslinux", ["--offset", String(START * 512), "--install", file], envOpt);
    await writeBootCode(file, bootCode);
  }
  return {
    scheme,
    sizeMB,
    partition: { start: START, size: partSize, fat: fat.bits },
    cmdline,
    ...(boot.hypervisor ? { hypervisor: boot.hypervisor } : {}),
    diskId: gpt ? ids.diskGuid : ids.mbrSignature,
  };
}

/** The first 440 bytes of the MBR: boot code, before the disk signature and partition table. */
async function writeBootCode(file: string, bootCodeFile: string): Promise<void> {
  const code = await readFile(bootCodeFile);
  if (code.length === 0 || code.length > 440) {
    throw new KilnError(
      "KILN_EFIRMWARE_INVALID",
      `Cannot use ${q(bootCodeFile)} as MBR boot code: it has ${code.length} bytes, not 1 to 440`,
      "Reinstall syslinux-common, or point KILN_SYSLINUX_DIR at a syslinux directory.",
    );
  }
  const fh = await open(file, "r+");
  try {
    await fh.write(code, 0, code.length, 0);
  } finally {
    await fh.close();
  }
}

/** A LaunchableFormat that writes a raw disk of one scheme. */
export function rawDiskFormat(name: string, description: string, scheme: DiskScheme): LaunchableFormat {
  return {
    name,
    description,
    async make(image, out, opts) {
      const r = await writeLaunchable(out, opts, (file, workDir) =>
        buildRawDisk(image, file, { scheme, format: name, workDir, ...diskOptions(opts) }),
      );
      return { format: name, ...r };
    },
  };
}

/** The FormatOptions a raw disk uses, without undefined members (exactOptionalPropertyTypes-proof). */
export function diskOptions(opts: FormatOptions): Omit<RawDiskOptions, "scheme" | "format" | "workDir"> {
  return {
    ...(opts.sizeMB !== undefined ? { sizeMB: opts.sizeMB } : {}),
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    ...(opts.hypervisorCmdline !== undefined ? { hypervisorCmdline: opts.hypervisorCmdline } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  };
}
