/**
 * A cpio "newc" reader (SVR4 with or without CRC, the format of Linux initramfs), for looking inside
 * initrds: compliance accounts for every file there. It reads into memory only (entry data are views of
 * the buffer), so nothing here can write outside a target; names are normalised to absolute paths and
 * names that climb out ("..") are refused. Concatenated archives (the kernel accepts them, and launchers
 * append segments) are read one after another; compressed segments are refused with a clear error.
 */
import { KilnError, q } from "./errors.js";

export type CpioEntryType = "file" | "dir" | "symlink" | "other";

export interface CpioReadEntry {
  /** Normalised absolute path ("/bin/hello"; the archive root "." is "/"). */
  path: string;
  /** The name exactly as stored. */
  name: string;
  type: CpioEntryType;
  /** Permission bits (mode & 0o7777). */
  perm: number;
  /** The whole st_mode as stored. */
  mode: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  /** File contents (a view of the archive buffer); for hard links, every link sees the data. */
  data: Buffer;
  /** Symlink target. */
  target?: string;
  /** Byte offset of the entry's header in the buffer. */
  offset: number;
}

const HEADER = 110;
const S_IFMT = 0o170000;
// A Map, not an object literal: numeric keys written in octal are easy to get wrong (a formatter once
// rewrote them in the wrong base).
const TYPES = new Map<number, CpioEntryType>([
  [0o100000, "file"],
  [0o040000, "dir"],
  [0o120000, "symlink"],
]);
const pad4 = (n: number) => (n + 3) & ~3;

function invalid(label: string, offset: number, why: string): KilnError {
  return new KilnError(
    "KILN_ECPIO_INVALID",
    `Cannot read cpio archive ${q(label)}: ${why} at byte ${offset}`,
    "Give an uncompressed cpio newc archive (an initrd written by `kiln bake`, or `cpio -o -H newc`).",
    { details: { offset } },
  );
}

function normalise(name: string, label: string, offset: number): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(label, offset, `entry name ${q(name)} leaves the archive`);
  return `/${parts.join("/")}`;
}

/** Every entry of every archive in `buf`, in archive order (trailers excluded). */
export function readCpio(buf: Buffer, label = "initrd"): CpioReadEntry[] {
  const entries: CpioReadEntry[] = [];
  // Inode numbers name hard links within one archive only.
  let segment: CpioReadEntry[] = [];
  let off = 0;
  while (off < buf.length) {
    // Between concatenated archives (and after the last) there may be NUL padding.
    if (buf[off] === 0) {
      off++;
      continue;
    }
    const magic = buf.toString("latin1", off, off + 6);
    if (magic !== "070701" && magic !== "070702") {
      if (buf[off] === 0x1f && buf[off + 1] === 0x8b) throw invalid(label, off, "a gzip-compressed segment");
      if (magic.startsWith("\xfd7zXZ")) throw invalid(label, off, "an xz-compressed segment");
      if (off + 4 <= buf.length && buf.readUInt32LE(off) === 0xfd2fb528)
        throw invalid(label, off, "a zstd-compressed segment");
      throw invalid(label, off, `bad magic ${q(magic.replace(/[^\x20-\x7e]/g, "?"))} (want "070701")`);
    }
    if (off + HEADER > buf.length) throw invalid(label, off, "truncated header");
    const field = (i: number) => {
      const s = buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s)) throw invalid(label, off, `header field ${i} ${q(s)} is not hex`);
      return Number.parseInt(s, 16);
    };
    const ino = field(0);
    const mode = field(1);
    const uid = field(2);
    const gid = field(3);
    const nlink = field(4);
    const mtime = field(5);
    const size = field(6);
    const namesize = field(11);
    if (namesize === 0) throw invalid(label, off, "empty entry name");
    const nameEnd = off + HEADER + namesize;
    if (nameEnd > buf.length) throw invalid(label, off, "truncated name");
    if (buf[nameEnd - 1] !== 0) throw invalid(label, off, "entry name is not NUL-terminated");
    const name = buf.toString("utf8", off + HEADER, nameEnd - 1);
    const dataStart = pad4(nameEnd);
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) throw invalid(label, off, `truncated data of ${q(name)} (${size} bytes)`);
    const entryOffset = off;
    off = pad4(dataEnd);
    if (name === "TRAILER!!!") {
      shareHardLinkData(segment);
      segment = [];
      continue;
    }
    const type = TYPES.get(mode & S_IFMT) ?? "other";
    const data = buf.subarray(dataStart, dataEnd);
    const entry: CpioReadEntry = {
      path: normalise(name, label, entryOffset),
      name,
      type,
      perm: mode & 0o7777,
      mode,
      ino,
      nlink,
      uid,
      gid,
      mtime,
      size,
      data,
      ...(type === "symlink" ? { target: data.toString("utf8") } : {}),
      offset: entryOffset,
    };
    entries.push(entry);
    segment.push(entry);
  }
  shareHardLinkData(segment);
  return entries;
}

/** newc stores a hard-linked file's data once, with the last link; give every link the data. */
function shareHardLinkData(entries: CpioReadEntry[]): void {
  const withData = new Map<number, CpioReadEntry>();
  for (const e of entries) if (e.type === "file" && e.nlink > 1 && e.size > 0) withData.set(e.ino, e);
  if (withData.size === 0) return;
  for (const e of entries) {
    if (e.type !== "file" || e.nlink < 2 || e.size > 0) continue;
    const full = withData.get(e.ino);
    if (full) {
      e.data = full.data;
      e.size = full.size;
    }
  }
}
