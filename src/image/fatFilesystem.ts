import { posix } from "node:path";
import { isKilnError, KilnError, q } from "../core/errors.js";
import { runTool } from "./hostTool.js";

const SECTOR = 512;

export interface FatFile {
  src: string;
  /** Absolute path on the FAT filesystem, like /EFI/BOOT/BOOTX64.EFI. */
  dest: string;
}

export interface FatSpec {
  /** The file that holds the filesystem (a disk image or a bare filesystem image); it must be big enough. */
  file: string;
  offsetBytes: number;
  sizeBytes: number;
  label: string;
  volumeId: string;
  files: readonly FatFile[];
  env?: NodeJS.ProcessEnv;
}

/** FAT16 up to 2 GiB (its limit with 32 KiB clusters), FAT32 above. Both boot with syslinux and UEFI. */
export function fatBits(sizeBytes: number): 16 | 32 {
  return sizeBytes < 2048 * 1024 * 1024 ? 16 : 32;
}

/**
 * Make a FAT filesystem inside a file at an offset and copy files in with mtools: no root, no loop device.
 * Deterministic: mkfs.fat --invariant with a given volume id, mtools dates from SOURCE_DATE_EPOCH, files
 * copied in the given order. A full filesystem is KILN_EDISK_TOO_SMALL.
 */
export async function makeFat(spec: FatSpec): Promise<{ bits: 16 | 32 }> {
  const env = spec.env ? { env: spec.env } : {};
  const bits = fatBits(spec.sizeBytes);
  const sectors = spec.offsetBytes / SECTOR;
  await runTool(
    "mkfs.fat",
    [
      `-F${bits}`,
      // FAT16 needs 4085 clusters; mkfs.fat's default 2 KiB clusters leave a small disk (a specialized
      // kernel's, under 16 MiB) short of that, so small ones get 512-byte clusters.
      ...(spec.sizeBytes < 16 * 1024 * 1024 ? ["-s", "1"] : []),
      `--offset=${sectors}`,
      "-h",
      String(sectors),
      "--invariant",
      "-i",
      spec.volumeId,
      "-n",
      spec.label,
      spec.file,
      String(Math.floor(spec.sizeBytes / 1024)),
    ],
    env,
  );
  const drive = `${spec.file}@@${spec.offsetBytes}`;
  const dirs = new Set<string>();
  for (const f of spec.files) {
    for (let d = posix.dirname(f.dest); d !== "/"; d = posix.dirname(d)) dirs.add(d);
  }
  if (dirs.size > 0) {
    const sorted = [...dirs].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
    await runTool("mmd", ["-i", drive, ...sorted.map((d) => `::${d}`)], env);
  }
  for (const f of spec.files) {
    try {
      await runTool("mcopy", ["-i", drive, f.src, `::${f.dest}`], env);
    } catch (e) {
      if (isKilnError(e) && /disk full/i.test(e.message)) {
        throw new KilnError(
          "KILN_EDISK_TOO_SMALL",
          `Cannot copy ${q(f.dest)} onto a FAT filesystem of ${Math.floor(spec.sizeBytes / 1048576)} MiB: it is full`,
          "Give a larger --size, or leave --size out to fit the image.",
          { cause: e },
        );
      }
      throw e;
    }
  }
  return { bits };
}
