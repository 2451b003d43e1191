/**
 * A deterministic cpio "newc" writer (the format the Linux kernel unpacks as initramfs). Written by hand:
 * no maintained npm package writes newc. Entries are sorted, parents are created implicitly, inode numbers
 * are sequential, uid/gid are 0 and every entry carries the one mtime given, so the same entries and time
 * always give the same bytes.
 */
import { q, usageError } from "../core/errors.js";

export interface CpioEntry {
  /** Path inside the archive; a leading "/" is dropped. */
  path: string;
  type?: "file" | "dir" | "symlink";
  /** Permission bits (default 0o644 for files, 0o755 for directories, 0o777 for symlinks). */
  mode?: number;
  data?: Uint8Array;
  /** Symlink target. */
  target?: string;
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** A path as the archive names it: no leading "/", no "." or empty components; ".." is refused. */
export function initrdPath(path: string): string {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.length === 0 || parts.some((p) => p === "..")) {
    throw usageError(
      "KILN_ECPIO_PATH",
      `Cannot put ${q(path)} in an initrd: the path must name a place inside it`,
      'Use an absolute path inside the image, like /etc/app.conf, without "..".',
    );
  }
  return parts.join("/");
}

function header(
  ino: number,
  mode: number,
  nlink: number,
  size: number,
  mtime: number,
  nameLen: number,
): string {
  const f = (n: number) => n.toString(16).padStart(8, "0");
  return `070701${f(ino)}${f(mode)}${f(0)}${f(0)}${f(nlink)}${f(mtime)}${f(size)}${f(0)}${f(0)}${f(0)}${f(0)}${f(nameLen)}${f(0)}`;
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The archive as a list of chunks (write them with one writev-style call; nothing is copied). */
export function cpioChunks(entries: readonly CpioEntry[], mtime = 0): Uint8Array[] {
  const byPath = new Map<string, CpioEntry & { path: string }>();
  for (const e of entries) {
    const path = initrdPath(e.path);
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const seen = byPath.get(dir);
      if (seen && seen.type !== "dir") {
        throw usageError(
          "KILN_ECPIO_PATH",
          `Cannot put ${q(path)} in an initrd: ${q(dir)} is a file there`,
          "Choose another destination path.",
        );
      }
      if (!seen) byPath.set(dir, { path: dir, type: "dir" });
    }
    const prev = byPath.get(path);
    if (prev && !(prev.type === "dir" && (e.type ?? "file") === "dir")) {
      if (prev.type === "dir" || (e.type ?? "file") === "dir") {
        throw usageError(
          "KILN_ECPIO_PATH",
          `Cannot put ${q(path)} in an initrd twice, as a file and a directory`,
          "Remove one of the two.",
        );
      }
    }
    byPath.set(path, { ...e, path });
  }
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Uint8Array[] = [];
  let ino = 1;
  const push = (mode: number, nlink: number, name: string, data: Uint8Array) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const head = Buffer.from(
      header(name === "TRAILER!!!" ? 0 : ino++, mode, nlink, data.length, mtime, nameBytes.length),
      "ascii",
    );
    chunks.push(Buffer.concat([head, nameBytes, Buffer.alloc(pad4(head.length + nameBytes.length))]));
    if (data.length) {
      chunks.push(data);
      const p = pad4(data.length);
      if (p) chunks.push(Buffer.alloc(p));
    }
  };
  for (const e of sorted) {
    const type = e.type ?? "file";
    if (type === "dir") push(S_IFDIR | (e.mode ?? 0o755), 2, e.path, new Uint8Array(0));
    else if (type === "symlink") {
      if (!e.target)
        throw usageError(
          "KILN_ECPIO_PATH",
          `Symlink ${q(e.path)} has no target`,
          "Give the symlink a target.",
        );
      push(S_IFLNK | (e.mode ?? 0o777), 1, e.path, Buffer.from(e.target));
    } else push(S_IFREG | (e.mode ?? 0o644), 1, e.path, e.data ?? new Uint8Array(0));
  }
  push(0, 1, "TRAILER!!!", new Uint8Array(0));
  return chunks;
}

export function writeCpio(entries: readonly CpioEntry[], mtime = 0): Buffer {
  return Buffer.concat(cpioChunks(entries, mtime));
}

/** Count of entries an archive holds (directories included, trailer excluded), as `cpio -it` lists them. */
export function cpioEntryCount(entries: readonly CpioEntry[]): number {
  return (
    cpioChunks(entries).filter((c) => c.length >= 6 && Buffer.from(c.subarray(0, 6)).toString() === "070701")
      .length - 1
  );
}
