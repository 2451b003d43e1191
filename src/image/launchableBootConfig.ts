/**
 * The syslinux configuration a launchable boots with, read back from the medium, so that the launcher can
 * give the machine what it boots needs (a hypervisor: CPU features and memory) without being told. Read in
 * place, with no tool and no mount: ISO 9660 (isolinux/isolinux.cfg), or the FAT partition the BIOS boots
 * (syslinux.cfg in its root), found through the MBR or the GPT. A qcow2, VMDK or dynamic VHD is read
 * through `qemu-img dd` of its first MiBs: kiln writes the configuration first, so it lies there.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { openStore } from "../core/store.js";
import { runTool } from "./hostTool.js";

/** Read `length` bytes at `offset`; undefined past the end of what can be read. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer | undefined>;

const SECTOR = 512;
/** Configurations are a few hundred bytes; anything much larger is not one kiln wrote. */
const CONFIG_MAX = 64 * 1024;
/** How much of a converted disk to unpack: its partition table, FATs, root directory and configuration. */
const HEAD_MB = 64;
const LEGACY_BIOS_BOOTABLE = 1n << 2n;

/**
 * The first LBA of the partition a BIOS boots: the one marked LegacyBIOSBootable on a GPT disk (what
 * syslinux's gptmbr.bin starts), else the MBR's active one; undefined without either. `head` holds the
 * disk's start (MBR, GPT header and, for the GPT, as much of its entries as it reaches).
 */
export function biosPartition(head: Buffer): number | undefined {
  if (head.length < SECTOR || head[510] !== 0x55 || head[511] !== 0xaa) return undefined;
  if (head.length >= 2 * SECTOR && head.toString("latin1", SECTOR, SECTOR + 8) === "EFI PART") {
    const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
    const count = head.readUInt32LE(SECTOR + 80);
    const entrySize = head.readUInt32LE(SECTOR + 84);
    for (let i = 0; i < count; i++) {
      const off = entriesLba * SECTOR + i * entrySize;
      if (entrySize < 56 || off + 56 > head.length) break;
      if (head.readBigUInt64LE(off + 48) & LEGACY_BIOS_BOOTABLE)
        return Number(head.readBigUInt64LE(off + 32));
    }
    return undefined;
  }
  for (let i = 0; i < 4; i++) {
    const e = 446 + 16 * i;
    if (head[e] === 0x80) return head.readUInt32LE(e + 8);
  }
  return undefined;
}

/** A file in the root directory of a FAT16 or FAT32 file system at `base`, by its 8.3 name ("SYSLINUX.CFG"). */
export async function fatRootFile(read: ReadAt, base: number, name: string): Promise<Buffer | undefined> {
  const bpb = await read(base, SECTOR);
  if (bpb?.[510] !== 0x55 || bpb[511] !== 0xaa) return undefined;
  const bytesPerSector = bpb.readUInt16LE(11);
  const perCluster = bpb[13]!;
  const reserved = bpb.readUInt16LE(14);
  const fats = bpb[16]!;
  const rootEntries = bpb.readUInt16LE(17);
  const fat32 = rootEntries === 0 && bpb.readUInt16LE(22) === 0;
  const fatSectors = fat32 ? bpb.readUInt32LE(36) : bpb.readUInt16LE(22);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || perCluster === 0 || fats === 0 || fatSectors === 0)
    return undefined;
  const clusterBytes = bytesPerSector * perCluster;
  const fatAt = base + reserved * bytesPerSector;
  const rootAt = fatAt + fats * fatSectors * bytesPerSector;
  const dataAt = rootAt + (fat32 ? 0 : rootEntries * 32);
  const clusterAt = (c: number) => dataAt + (c - 2) * clusterBytes;
  const next = async (c: number): Promise<number | undefined> => {
    const b = await read(fatAt + c * (fat32 ? 4 : 2), fat32 ? 4 : 2);
    if (!b) return undefined;
    const n = fat32 ? b.readUInt32LE(0) & 0x0fffffff : b.readUInt16LE(0);
    return n >= 2 && n < (fat32 ? 0x0ffffff8 : 0xfff8) ? n : undefined;
  };
  /** A cluster chain's bytes, up to `max`. */
  const chain = async (first: number, max: number): Promise<Buffer | undefined> => {
    const parts: Buffer[] = [];
    let got = 0;
    for (let c: number | undefined = first; c !== undefined && got < max; c = await next(c)) {
      const b = await read(clusterAt(c), clusterBytes);
      if (!b) return undefined;
      parts.push(b);
      got += b.length;
    }
    return Buffer.concat(parts).subarray(0, max);
  };
  const root = fat32
    ? await chain(bpb.readUInt32LE(44), CONFIG_MAX)
    : await read(rootAt, Math.min(rootEntries * 32, CONFIG_MAX));
  if (!root) return undefined;
  const [stem = "", ext = ""] = name.toUpperCase().split(".");
  const want = stem.padEnd(8) + ext.padEnd(3);
  for (let off = 0; off + 32 <= root.length; off += 32) {
    if (root[off] === 0) break;
    const attr = root[off + 11]!;
    // Deleted entries, long-name pieces, volume labels and directories are not the file.
    if (root[off] === 0xe5 || (attr & 0x0f) === 0x0f || attr & 0x18) continue;
    if (root.toString("latin1", off, off + 11) !== want) continue;
    const size = root.readUInt32LE(off + 28);
    const first = (root.readUInt16LE(off + 20) << 16) | root.readUInt16LE(off + 26);
    if (size > CONFIG_MAX) return undefined;
    return size === 0 ? Buffer.alloc(0) : chain(first, size);
  }
  return undefined;
}

/** A file of an ISO 9660 file system by its path ("isolinux/isolinux.cfg"), in the primary volume's names. */
export async function isoFile(read: ReadAt, path: string): Promise<Buffer | undefined> {
  const pvd = await read(16 * 2048, 2048);
  if (pvd?.[0] !== 1 || pvd.toString("latin1", 1, 6) !== "CD001") return undefined;
  const block = pvd.readUInt16LE(128);
  let extent = pvd.readUInt32LE(156 + 2);
  let size = pvd.readUInt32LE(156 + 10);
  const names = path.split("/").filter(Boolean);
  for (const [i, name] of names.entries()) {
    const last = i === names.length - 1;
    const dir = await read(extent * block, Math.min(size, 1 << 20));
    if (!dir) return undefined;
    let found = false;
    for (let off = 0; off < dir.length; ) {
      const len = dir[off]!;
      // Records do not cross a block: a zero length means the rest of this block is padding.
      if (len === 0) {
        off = (Math.floor(off / block) + 1) * block;
        continue;
      }
      if (off + 33 > dir.length) break;
      const isDir = (dir[off + 25]! & 2) !== 0;
      const id = dir.toString("latin1", off + 33, off + 33 + dir[off + 32]!).replace(/(;\d+)?$/, "");
      if (id.replace(/\.$/, "").toUpperCase() === name.toUpperCase() && isDir !== last) {
        extent = dir.readUInt32LE(off + 2);
        size = dir.readUInt32LE(off + 10);
        found = true;
        break;
      }
      off += len;
    }
    if (!found || (last && size > CONFIG_MAX)) return undefined;
  }
  return read(extent * block, size);
}

async function withReader<T>(file: string, fn: (read: ReadAt) => Promise<T>): Promise<T> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    return await fn(async (offset, length) => {
      if (offset < 0 || offset + length > size) return undefined;
      const b = Buffer.alloc(length);
      const { bytesRead } = await fh.read(b, 0, length, offset);
      return bytesRead === length ? b : undefined;
    });
  } finally {
    await fh.close();
  }
}

async function diskConfig(read: ReadAt): Promise<string | undefined> {
  const head = await read(0, 64 * 1024);
  const lba = head ? biosPartition(head) : undefined;
  if (lba === undefined) return undefined;
  return (await fatRootFile(read, lba * SECTOR, "SYSLINUX.CFG"))?.toString("latin1");
}

/**
 * The syslinux or isolinux configuration of a launchable of `kind` (what detectLaunchable says), or undefined
 * when it has none kiln can read (a UEFI-only disk, a medium kiln did not write).
 */
export async function launchableBootConfig(
  file: string,
  kind: string,
  opts: { env?: NodeJS.ProcessEnv; qemuFormat?: string } = {},
): Promise<string | undefined> {
  if (kind === "iso")
    return withReader(file, async (read) =>
      (await isoFile(read, "isolinux/isolinux.cfg"))?.toString("latin1"),
    );
  if (kind === "raw-uefi") return undefined;
  if (!opts.qemuFormat) return withReader(file, diskConfig);
  const format = opts.qemuFormat;
  return openStore(opts.env).withTmpDir(async (dir) => {
    const head = join(dir, "head.raw");
    await runTool(
      "qemu-img",
      ["dd", "-f", format, "-O", "raw", "bs=1M", `count=${HEAD_MB}`, `if=${file}`, `of=${head}`],
      opts.env ? { env: opts.env } : {},
    );
    return withReader(head, diskConfig);
  });
}
