import { open } from "node:fs/promises";

const BLOCK = 512;
const RECORD = 20 * BLOCK; // GNU tar's default blocking factor
const CHUNK = 4 * 1024 * 1024;
const ZERO_CHUNK = Buffer.alloc(CHUNK);
const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** Data regions of a file: runs of 512-byte blocks that are not all zero, as [offset, length]. */
export async function dataRuns(path: string): Promise<{ size: number; runs: [number, number][] }> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    const runs: [number, number][] = [];
    const buf = Buffer.alloc(CHUNK);
    for (let pos = 0; pos < size; pos += CHUNK) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - pos), pos);
      if (bytesRead === CHUNK && buf.equals(ZERO_CHUNK)) continue;
      for (let i = 0; i < bytesRead; i += BLOCK) {
        const end = Math.min(i + BLOCK, bytesRead);
        if (buf.compare(ZERO_BLOCK, 0, end - i, i, end) === 0) continue;
        const last = runs.at(-1);
        if (last && last[0] + last[1] === pos + i) last[1] += end - i;
        else runs.push([pos + i, end - i]);
      }
    }
    return { size, runs };
  } finally {
    await fh.close();
  }
}

function octal(buf: Buffer, at: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, "0")}\0`, at, width, "latin1");
}

function header(name: string, opts: { size: number; stored: number; mtime: number; mode: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, "latin1");
  octal(h, 100, 8, opts.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, opts.stored);
  octal(h, 136, 12, opts.mtime);
  h.write("ustar  \0", 257, "latin1");
  // An empty file is not sparse to GNU tar: a plain member.
  if (opts.size === 0) {
    h.write("0", 156, "latin1");
    return h;
  }
  h.write("S", 156, "latin1");
  octal(h, 483, 12, opts.size);
  return h;
}

function checksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
}

/**
 * One file as a GNU tar archive (format oldgnu, the one Google's image import names) holding a
 * sparse member: zero blocks are holes, whatever the host filesystem's own idea of holes. Byte for byte
 * what `tar --format=oldgnu --sparse --hole-detection=raw --numeric-owner --owner=0 --group=0` writes, but
 * it skips all-zero 4 MiB chunks with one comparison where GNU tar reads block by block (1 GiB: 0.3 s
 * against 3.6 s here).
 */
export async function* sparseTar(
  path: string,
  name: string,
  opts: { mtime: number; mode?: number },
): AsyncGenerator<Buffer> {
  if (Buffer.byteLength(name) > 99) throw new Error(`tar member name too long: ${name}`);
  const { size, runs } = await dataRuns(path);
  // GNU tar records a trailing hole as an empty run at the end (also for an all-zero file).
  const last = runs.at(-1);
  const map: [number, number][] =
    size === 0 ? [] : last && last[0] + last[1] === size ? runs : [...runs, [size, 0]];
  const stored = runs.reduce((n, r) => n + r[1], 0);
  const h = header(name, { size, stored, mtime: opts.mtime, mode: opts.mode ?? 0o644 });
  const extensions: Buffer[] = [];
  const entry = (b: Buffer, at: number, [off, len]: [number, number]) => {
    octal(b, at, 12, off);
    octal(b, at + 12, 12, len);
  };
  for (let i = 0; i < Math.min(4, map.length); i++) entry(h, 386 + i * 24, map[i]!);
  if (map.length > 4) h[482] = 1;
  for (let i = 4; i < map.length; i += 21) {
    const ext = Buffer.alloc(BLOCK);
    for (let j = 0; j < 21 && i + j < map.length; j++) entry(ext, j * 24, map[i + j]!);
    if (i + 21 < map.length) ext[504] = 1;
    extensions.push(ext);
  }
  checksum(h);
  let written = (1 + extensions.length) * BLOCK;
  yield h;
  yield* extensions;
  const fh = await open(path, "r");
  try {
    for (const [off, len] of runs) {
      for (let done = 0; done < len; ) {
        const n = Math.min(CHUNK, len - done);
        const buf = Buffer.alloc(n);
        await fh.read(buf, 0, n, off + done);
        yield buf;
        done += n;
      }
      const pad = (BLOCK - (len % BLOCK)) % BLOCK;
      if (pad) yield Buffer.alloc(pad);
      written += len + pad;
    }
  } finally {
    await fh.close();
  }
  written += 2 * BLOCK;
  yield Buffer.alloc(2 * BLOCK + ((RECORD - (written % RECORD)) % RECORD));
}
