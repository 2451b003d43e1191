import { open } from "node:fs/promises";
import { KilnError, q } from "../core/errors.js";

/** The parts of a PE32+ image's headers that building a unified kernel image needs. */
export interface PeHeaders {
  /** Offset of the COFF header ("PE\0\0" signature + 4). */
  coff: number;
  /** Offset of the optional header. */
  optional: number;
  timestamp: number;
  checksum: number;
  imageBase: bigint;
  sectionAlignment: number;
  sections: { name: string; virtualAddress: number; virtualSize: number; rawSize: number }[];
}

export function readPeHeaders(buf: Buffer, what = "PE image"): PeHeaders {
  const bad = (why: string) =>
    new KilnError(
      "KILN_EPE_INVALID",
      `Cannot read ${q(what)} as a PE32+ image: ${why}`,
      "Reinstall the Debian package that provides it (systemd-boot-efi for the EFI stub).",
    );
  if (buf.length < 0x40 || buf.toString("latin1", 0, 2) !== "MZ") throw bad("no MZ header");
  const pe = buf.readUInt32LE(0x3c);
  if (pe + 24 > buf.length || buf.toString("latin1", pe, pe + 4) !== "PE\0\0") throw bad("no PE signature");
  const coff = pe + 4;
  const nsections = buf.readUInt16LE(coff + 2);
  const optSize = buf.readUInt16LE(coff + 16);
  const optional = coff + 20;
  if (buf.readUInt16LE(optional) !== 0x20b) throw bad("not PE32+");
  const sections: PeHeaders["sections"] = [];
  const table = optional + optSize;
  for (let i = 0; i < nsections; i++) {
    const s = table + i * 40;
    sections.push({
      name: buf.toString("latin1", s, s + 8).replace(/\0+$/, ""),
      virtualSize: buf.readUInt32LE(s + 8),
      virtualAddress: buf.readUInt32LE(s + 12),
      rawSize: buf.readUInt32LE(s + 16),
    });
  }
  return {
    coff,
    optional,
    timestamp: buf.readUInt32LE(coff + 4),
    checksum: buf.readUInt32LE(optional + 64),
    imageBase: buf.readBigUInt64LE(optional + 24),
    sectionAlignment: buf.readUInt32LE(optional + 32),
    sections,
  };
}

/** The PE checksum (as Windows' CheckSumMappedFile): 16-bit one's-complement sum skipping the field, plus length. */
export function peChecksum(buf: Buffer, checksumOffset: number): number {
  // One's-complement addition is associative: sum all little-endian 16-bit words exactly (a double holds
  // far more than 2^47), fold the carries once at the end.
  const even = buf.length & ~1;
  let sum = 0;
  if ((buf.byteOffset & 1) === 0 && isLittleEndian) {
    const words = new Uint16Array(buf.buffer, buf.byteOffset, even / 2);
    for (let i = 0; i < words.length; i++) sum += words[i]!;
  } else {
    for (let i = 0; i < even; i += 2) sum += buf.readUInt16LE(i);
  }
  if (buf.length & 1) sum += buf[buf.length - 1]!;
  sum -= buf.readUInt16LE(checksumOffset) + buf.readUInt16LE(checksumOffset + 2);
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return (sum + buf.length) >>> 0;
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Set the COFF time stamp (objcopy writes the current time) and the checksum that covers it. In place. */
export function fixPeTimestamp(buf: Buffer, timestamp: number): void {
  const h = readPeHeaders(buf);
  buf.writeUInt32LE(timestamp >>> 0, h.coff + 4);
  buf.writeUInt32LE(peChecksum(buf, h.optional + 64), h.optional + 64);
}

/** fixPeTimestamp on a file: reads it once, writes back only the 8 changed header bytes. */
export async function fixPeTimestampFile(path: string, timestamp: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    const buf = await fh.readFile();
    fixPeTimestamp(buf, timestamp);
    const h = readPeHeaders(buf);
    await fh.write(buf, h.coff + 4, 4, h.coff + 4);
    await fh.write(buf, h.optional + 64, 4, h.optional + 64);
  } finally {
    await fh.close();
  }
}
