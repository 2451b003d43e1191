import { createHash } from "node:crypto";
import type { ImageManifest } from "../manifest/imageManifest.js";

/**
 * Identifiers that tools would otherwise draw at random (FAT volume ids, MBR signatures, GPT GUIDs, VMDK
 * content ids, VHD unique ids), derived from what the launchable is made of, so the same image and options
 * give the same bytes while different images get different ids.
 */
export interface DiskIds {
  /** 8 hex digits, for mkfs.fat -i. */
  volumeId: string;
  /** "0x" + 8 hex digits, the MBR disk signature. */
  mbrSignature: string;
  diskGuid: string;
  partGuid: string;
  /** 32-bit content id (VMDK CID). */
  contentId: number;
  /** 16 bytes (VHD unique id). */
  uniqueId: Buffer;
}

export function diskIds(manifest: ImageManifest, format: string, parts: readonly unknown[] = []): DiskIds {
  const seed = (label: string) =>
    createHash("sha256")
      .update(JSON.stringify([label, format, manifest.kernel.sha256, manifest.initrd.sha256, ...parts]))
      .digest();
  const vol = seed("volume");
  const mbr = seed("mbr");
  return {
    volumeId: vol.subarray(0, 4).toString("hex"),
    mbrSignature: `0x${mbr.subarray(0, 4).toString("hex")}`,
    diskGuid: guid(seed("disk")),
    partGuid: guid(seed("partition")),
    contentId: seed("cid").readUInt32BE(0),
    uniqueId: Buffer.from(seed("unique").subarray(0, 16)),
  };
}

/** An RFC 9562 version 8 (custom) UUID from the first 16 bytes of a digest. */
function guid(digest: Buffer): string {
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
