import { open } from "node:fs/promises";
import { KilnError, q } from "../core/errors.js";

/**
 * qemu-img draws a VMDK's content id (CID) at random. Set it, in the embedded descriptor of a sparse or
 * stream-optimized VMDK, to a given value: the descriptor area keeps its size, so nothing else moves.
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
    const nul = desc.indexOf(0);
    const text = desc.toString("latin1", 0, nul < 0 ? size : nul);
    // qemu-img prints the CID without leading zeros; ours has all 8 digits, so the text may grow by a few
    // bytes inside the descriptor's fixed, zero-padded area.
    if (!/^CID=[0-9a-f]{1,8}$/m.test(text)) throw bad(file, "no CID line in its descriptor");
    const next = Buffer.from(
      text.replace(/^CID=[0-9a-f]{1,8}$/m, `CID=${cid.toString(16).padStart(8, "0")}`),
      "latin1",
    );
    if (next.length > size) throw bad(file, "no room in its descriptor");
    desc.fill(0);
    next.copy(desc);
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
