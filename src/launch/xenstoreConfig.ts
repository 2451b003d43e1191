/**
 * The launch-time boot configuration as xenstore keys, for kiln-init's xenstore source (guest/README.md):
 * under the guest's own home, /local/domain/DOMID/kiln/config holds the JSON document when it fits in one
 * value; a larger one is split into parts at kiln/config/0 .. N-1 and kiln/config holds N in decimal (a
 * document is an object, never a bare number, so the two cannot be mistaken). libxl makes the domain's home
 * readable by the guest, and keys dom0 creates under it inherit that.
 */
import type { BootConfig } from "../manifest/bootConfig.js";

/** xenstored's payload limit is 4096 bytes; a value stays well under it with its path in the same message. */
export const XENSTORE_VALUE_MAX = 3072;

export function xenstoreConfig(domid: number, cfg: BootConfig): [string, string][] {
  const home = `/local/domain/${domid}/kiln/config`;
  const json = JSON.stringify(cfg);
  const bytes = Buffer.from(json);
  if (bytes.length <= XENSTORE_VALUE_MAX) return [[home, json]];
  const parts: [string, string][] = [];
  // Split on byte counts, never inside a UTF-8 sequence: each part must be valid text for xenstore-write.
  for (let at = 0; at < bytes.length; ) {
    let end = Math.min(at + XENSTORE_VALUE_MAX, bytes.length);
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    parts.push([`${home}/${parts.length}`, bytes.subarray(at, end).toString("utf8")]);
    at = end;
  }
  return [[home, String(parts.length)], ...parts];
}
