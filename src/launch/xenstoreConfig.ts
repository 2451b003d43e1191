/**
 * The launch-time boot configuration as xenstore keys, for kiln-init's xenstore source (guest/README.md):
 * under the guest's own home, /local/domain/DOMID/kiln/config holds the JSON document when it fits in one
 * value; a larger one is split into parts at kiln/config/0 .. N-1 and kiln/config holds N in decimal (a
 * document is an object, never a bare number, so the two cannot be mistaken). libxl makes the domain's home
 * readable by the guest, and keys dom0 creates under it inherit that. Written with `xenstore-write -R`:
 * without -R it decodes backslash escapes, which would change JSON strings that hold a backslash.
 */
import type { BootConfig } from "../manifest/bootConfig.js";

/**
 * xenstored's message limit is 4096 bytes for path and value together; kiln-init reads at most 64 parts.
 * Parts of 2048 bytes stay inside both (and inside the 2048 bytes unprivileged domains may write).
 */
export const XENSTORE_VALUE_MAX = 2048;

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
  // The count last: until it is there, nothing claims the parts are complete.
  return [...parts, [home, String(parts.length)]];
}
