/**
 * The Linux x86 boot image (bzImage): a real-mode setup, a decompressor, and the kernel itself as a compressed
 * ELF (`vmlinux` stripped by objcopy, its notes kept) at the payload the setup header points to
 * (Documentation/x86/boot.rst). Taking that ELF out lets a loader that speaks PVH (QEMU -kernel, Xen,
 * Firecracker) start the kernel at its PVH entry without running the decompressor, which under software
 * emulation is most of a small kernel's boot.
 */
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { type Compression, decompress } from "./decompress.js";
import { isKilnError, KilnError, q } from "./errors.js";

export type KernelCompression = "gzip" | "xz" | "lz4" | "zstd" | "bzip2" | "lzma" | "lzo";

/** Magic numbers of the payload formats the kernel's Makefiles write (arch/x86/boot/compressed). */
const MAGIC: [KernelCompression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lzma", [0x5d, 0x00, 0x00]],
  ["lzo", [0x89, 0x4c, 0x5a, 0x4f]],
];

/** The formats src/core/decompress.ts reads (the payload, its size trailer cut off, is one plain stream). */
const STREAMS: Partial<Record<KernelCompression, Compression>> = {
  gzip: "gz",
  xz: "xz",
  lz4: "lz4",
  zstd: "zst",
};

export interface BzImagePayload {
  compression: KernelCompression;
  /** The compressed kernel, without the 4-byte uncompressed size the build appends to it. */
  data: Buffer;
  /** The uncompressed size the build recorded. */
  size: number;
}

function invalid(label: string, why: string): KilnError {
  return new KilnError(
    "KILN_EKERNEL_INVALID",
    `${q(label)} is not a usable Linux bzImage: ${why}`,
    "Use a kernel from `kiln components fetch` or `kiln components build`, or bake the image again.",
  );
}

/** Where the payload lies (its 4-byte size trailer included), from the setup header; `head` is the file's start. */
function payloadBounds(head: Buffer, fileSize: number, label: string): { start: number; length: number } {
  if (
    head.length < 0x250 ||
    head.readUInt16LE(0x1fe) !== 0xaa55 ||
    head.toString("latin1", 0x202, 0x206) !== "HdrS"
  ) {
    throw invalid(label, "no boot sector signature or setup header");
  }
  if (head.readUInt16LE(0x206) < 0x208)
    throw invalid(label, "boot protocol older than 2.08 (no payload offset)");
  const setupSects = head[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + head.readUInt32LE(0x248);
  const length = head.readUInt32LE(0x24c);
  if (length < 8 || start + length > fileSize) throw invalid(label, "its payload lies outside the file");
  return { start, length };
}

/** Find the compressed kernel inside a bzImage (boot protocol 2.08 or later, which has payload_offset). */
export function bzImagePayload(buf: Buffer, label: string): BzImagePayload {
  const { start, length } = payloadBounds(buf, buf.length, label);
  const data = buf.subarray(start, start + length - 4);
  const compression = MAGIC.find(([, m]) => m.every((b, i) => data[i] === b))?.[0];
  if (!compression)
    throw invalid(label, `unknown payload compression (bytes ${data.subarray(0, 4).toString("hex")})`);
  return { compression, data, size: buf.readUInt32LE(start + length - 4) };
}

/**
 * The uncompressed size a bzImage file records for its kernel, from its header and the payload's last 4
 * bytes: cheap enough to check a cached ELF against at every launch.
 */
export async function bzImageRecordedSize(path: string): Promise<number> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(0x250);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const { start, length } = payloadBounds(head.subarray(0, bytesRead), (await fh.stat()).size, path);
    const tail = Buffer.alloc(4);
    await fh.read(tail, 0, 4, start + length - 4);
    return tail.readUInt32LE(0);
  } finally {
    await fh.close();
  }
}

/** Decompress a bzImage's payload: the kernel as an ELF file. */
export async function bzImageElf(buf: Buffer, label: string, env?: NodeJS.ProcessEnv): Promise<Buffer> {
  const p = bzImagePayload(buf, label);
  const kind = STREAMS[p.compression];
  if (!kind) throw invalid(label, `kiln cannot decompress a ${p.compression} payload`);
  let out: Buffer;
  try {
    out = await buffer(decompress(Readable.from([p.data]), kind, label, env));
  } catch (e) {
    // A missing tool stays what it is (the caller may boot the bzImage instead); bad data is a bad kernel.
    if (isKilnError(e) && e.code === "KILN_EARCHIVE_INVALID") {
      throw invalid(label, `its ${p.compression} payload does not decompress (${e.message})`);
    }
    throw e;
  }
  if (out.length !== p.size) {
    throw invalid(label, `its payload decompresses to ${out.length} bytes, not the ${p.size} it records`);
  }
  if (out.readUInt32BE(0) !== 0x7f454c46) throw invalid(label, "its payload is not an ELF file");
  return out;
}
