import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { FileHandle } from "node:fs/promises";

export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/**
 * sha256 of an open file, read into one reused 8 MiB buffer: disks can be GiBs of (sparse) zeros, and both
 * small reads and a fresh buffer per read (createReadStream) cost more than the hash itself.
 */
export async function sha256Handle(fh: FileHandle): Promise<string> {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(8 << 20);
  for (;;) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
  }
  return h.digest("hex");
}
