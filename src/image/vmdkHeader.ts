import { open } from "node:fs/promises";
import { KilnError, q } from "../core/errors.js";

/**
 * qemu-img draws a VMDK's content id (CID) at random. Set it, in the embedded descriptor of a sparse or
 * stream-optimized VMDK, to a given value: the descriptor keeps its length, so nothing else moves.
 */
export async function setVmdkCid(file: string, cid: number): Promise<void> {
  const fh = await open(file, "r+");
  try {
    const header = Buffer.alloc(512);
    await fh.read(header, 0, 512, 0);
    if (header.toString("latin1", 0, 4) !== "KDMV") throw bad(file, "no KDMV header");
    const offset = Number(header.readBigUInt64LE(28)) * 512;
    const size = Number(header.readBigUInt64LE(36)) * 512;
    if (offset === 0 || size === 0 || size > 1024 * 1024) throw bad(file, "no embedded descriptor");
    const desc = Buffer.alloc(size);
    await fh.read(desc, 0, size, offset);
    const text = desc.toString("latin1");
    const m = /^CID=[0-9a-f]{8}$/m.exec(text);
    if (!m) throw bad(file, "no CID line in its descriptor");
    desc.write(`CID=${cid.toString(16).padStart(8, "0")}`, m.index, "latin1");
    await fh.write(desc, 0, size, offset);
  } finally {
    await fh.close();
  }
}

function bad(file: string, why: string): KilnError {
  return new KilnError(
    "KILN_EVMDK_INVALID",
    `Cannot set the content id of ${q(file)}: ${why}`,
    "qemu-img wrote an unexpected VMDK; check `qemu-img info` on it and report this with your qemu-utils version.",
  );
}
