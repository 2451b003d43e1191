import { open } from "node:fs/promises";
import { KilnError, q } from "../core/errors.js";

/** The VHD footer checksum: one's complement of the byte sum, with the checksum field (64..67) left out. */
export function vhdChecksum(footer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 512; i++) if (i < 64 || i > 67) sum += footer[i]!;
  return ~sum >>> 0;
}

/**
 * qemu-img stamps a VHD footer with the current time and a random unique id. Set both (time stamp counts
 * seconds from 2000-01-01) and fix the checksum. The footer is the last 512 bytes (a fixed VHD has only it).
 */
export async function fixVhdFooter(
  file: string,
  opts: { timestamp: number; uniqueId: Buffer },
): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const { size } = await fh.stat();
    const footer = Buffer.alloc(512);
    await fh.read(footer, 0, 512, size - 512);
    if (footer.toString("latin1", 0, 8) !== "conectix") {
      throw new KilnError(
        "KILN_EVHD_INVALID",
        `Cannot fix the footer of ${q(file)}: no VHD footer at its end`,
        "qemu-img wrote an unexpected VHD; check `qemu-img info` on it and report this with your qemu-utils version.",
      );
    }
    footer.writeUInt32BE(opts.timestamp >>> 0, 24);
    opts.uniqueId.copy(footer, 68, 0, 16);
    footer.writeUInt32BE(vhdChecksum(footer), 64);
    await fh.write(footer, 0, 512, size - 512);
  } finally {
    await fh.close();
  }
}
