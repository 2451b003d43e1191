/**
 * A small zip reader for advisory archives (osv.dev publishes one `all.zip` per ecosystem): central
 * directory (ZIP64 too: big ecosystems have more than 65,535 entries), stored or deflated entries (zlib's
 * inflateRaw), CRC-32 checked. Entries are read into memory one at a time, never written to disk, so a
 * hostile name cannot escape anywhere; names that would (absolute, "..") are still reported as unsafe so
 * callers can skip them, and each entry's inflated size is capped against zip bombs.
 */
import { open } from "node:fs/promises";
import { crc32, inflateRawSync } from "node:zlib";
import { KilnError, q } from "../core/errors.js";

export interface ZipEntry {
  name: string;
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localOffset: number;
  encrypted: boolean;
  /** Absolute, "..", or backslash paths: a name no extractor should follow. */
  unsafe: boolean;
  directory: boolean;
}

export interface ZipReader {
  entries: ZipEntry[];
  read(entry: ZipEntry): Promise<Buffer>;
  close(): Promise<void>;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** Largest entry we inflate (an OSV file is a few kB; the biggest are well under 1 MB). */
const MAX_ENTRY = 64 * 1024 * 1024;

function bad(path: string, why: string): KilnError {
  return new KilnError(
    "KILN_EZIP_INVALID",
    `Cannot read zip archive ${q(path)}: ${why}`,
    "Give a .zip as osv.dev publishes it (for example Debian/all.zip), or a directory of OSV JSON files.",
  );
}

/** One entry that cannot be read; `details.why` is the reason alone, for callers that skip the entry. */
function badEntry(path: string, entry: ZipEntry, why: string): KilnError {
  const e = bad(path, `entry ${q(entry.name)} ${why}`);
  return new KilnError(e.code, e.message, e.hint, { details: { entry: entry.name, why } });
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 2 : 0)} MiB`;
}

/** Archives up to this size are read whole (one read instead of two per entry: 100,000 entries add up). */
const READ_WHOLE = 512 * 1024 * 1024;

export async function openZip(path: string, opts: { maxEntrySize?: number } = {}): Promise<ZipReader> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    let whole: Buffer | undefined;
    if (size <= READ_WHOLE) {
      whole = await fh.readFile();
      if (whole.length !== size) throw bad(path, "the file changed while it was read");
    }
    const readAt = async (pos: number, len: number) => {
      if (pos < 0 || len < 0 || pos + len > size)
        throw bad(path, `a record points outside the file (byte ${pos})`);
      if (whole) return whole.subarray(pos, pos + len);
      const b = Buffer.alloc(len);
      const { bytesRead } = await fh.read(b, 0, len, pos);
      if (bytesRead !== len) throw bad(path, `short read at byte ${pos}`);
      return b;
    };
    if (size < 22) throw bad(path, "too short to be a zip archive");
    const tailLen = Math.min(size, 22 + 65535);
    const tail = await readAt(size - tailLen, tailLen);
    let e = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        e = i;
        break;
      }
    }
    if (e < 0) throw bad(path, "no end-of-central-directory record (not a zip archive)");
    let count = tail.readUInt16LE(e + 10);
    let cdSize = tail.readUInt32LE(e + 12);
    let cdOffset = tail.readUInt32LE(e + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locPos = size - tailLen + e - 20;
      const loc = await readAt(locPos, 20);
      if (loc.readUInt32LE(0) !== ZIP64_LOCATOR) throw bad(path, "ZIP64 sizes without a ZIP64 locator");
      const recPos = Number(loc.readBigUInt64LE(8));
      const rec = await readAt(recPos, 56);
      if (rec.readUInt32LE(0) !== ZIP64_EOCD) throw bad(path, "bad ZIP64 end-of-central-directory record");
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    const cd = await readAt(cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL)
        throw bad(path, `central directory entry ${i} is damaged`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
      const name = nameBytes.toString(flags & 0x800 ? "utf8" : "latin1");
      // ZIP64 extended information: the 64-bit values of the fields that are all ones, in this order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = cd.readUInt16LE(x);
        const len = cd.readUInt16LE(x + 2);
        if (id === 0x0001) {
          let f = x + 4;
          const next = () => {
            const v = Number(cd.readBigUInt64LE(f));
            f += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        x += 4 + len;
      }
      const parts = name.split("/");
      entries.push({
        name,
        method,
        crc32: crc,
        compressedSize,
        size: usize,
        localOffset,
        encrypted: (flags & 1) === 1,
        unsafe:
          name.startsWith("/") || name.includes("\\") || /^[A-Za-z]:/.test(name) || parts.includes(".."),
        directory: name.endsWith("/"),
      });
      p = xEnd + commentLen;
    }
    const max = opts.maxEntrySize ?? MAX_ENTRY;
    return {
      entries,
      async read(entry) {
        const fail = (why: string) => badEntry(path, entry, why);
        if (entry.encrypted) throw fail("is encrypted");
        if (entry.size > max)
          throw fail(
            `would inflate to ${entry.size} bytes (${mib(entry.size)}), more than the ${mib(max)} allowed for one entry: a zip bomb, or not an advisory file`,
          );
        const head = await readAt(entry.localOffset, 30);
        if (head.readUInt32LE(0) !== LOCAL) throw fail("has no local header");
        const start = entry.localOffset + 30 + head.readUInt16LE(26) + head.readUInt16LE(28);
        const raw = await readAt(start, entry.compressedSize);
        let data: Buffer;
        if (entry.method === 0) data = raw;
        else if (entry.method === 8) {
          try {
            data = inflateRawSync(raw, { maxOutputLength: Math.max(entry.size, 1) });
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
              throw fail(
                `inflates to more than the ${entry.size} bytes the archive's directory states: a zip bomb, or a damaged archive`,
              );
            throw fail(`does not inflate: ${(err as Error).message}`);
          }
        } else throw fail(`uses compression method ${entry.method} (only stored and deflate)`);
        if (data.length !== entry.size)
          throw fail(`is ${data.length} bytes, the archive's directory says ${entry.size}`);
        if (crc32(data) !== entry.crc32) throw fail("fails its CRC-32 check");
        return data;
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}
