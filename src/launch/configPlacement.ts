/**
 * Where the launch-time boot configuration travels: on the kernel command line as `kiln.config=<base64url>`
 * when it fits, otherwise as /kiln/config.json in a cpio segment appended to the baked initrd (the kernel
 * unpacks concatenated archives in order, so the segment adds a file without touching the baked image).
 */

import { writeCpio } from "../bake/cpio.js";
import type { BootConfig } from "../manifest/bootConfig.js";
import { X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";

/**
 * The same encoding as bootConfig.encodeCmdlineConfig (a test holds them equal), without loading zod,
 * which costs more start-up time (60-100 ms) than the whole rest of a launch.
 */
export function encodeConfig(cfg: BootConfig): string {
  return Buffer.from(JSON.stringify(cfg)).toString("base64url");
}

export interface ConfigPlacement {
  via: "none" | "cmdline" | "initrd";
  /** Command line parameters to add (the kiln.config= token when it fits). */
  cmdline: string[];
  /** The cpio segment holding /kiln/config.json, when the command line has no room. */
  segment?: Buffer;
}

/**
 * `base` is every other part of the command line; `reserve` is room the hypervisor itself adds later
 * (QEMU microvm without ACPI appends its virtio_mmio.device= parameters).
 */
export function placeConfig(
  base: string,
  cfg: BootConfig | undefined,
  opts: { max?: number; reserve?: number } = {},
): ConfigPlacement {
  if (!cfg) return { via: "none", cmdline: [] };
  const token = `kiln.config=${encodeConfig(cfg)}`;
  const max = (opts.max ?? X86_CMDLINE_MAX) - (opts.reserve ?? 0);
  if (Buffer.byteLength(`${base} ${token}`) <= max) return { via: "cmdline", cmdline: [token] };
  return { via: "initrd", cmdline: [], segment: configSegment(cfg) };
}

export function configSegment(cfg: BootConfig): Buffer {
  return writeCpio([
    { path: "kiln", type: "dir", mode: 0o755 },
    { path: "kiln/config.json", mode: 0o644, data: Buffer.from(`${JSON.stringify(cfg)}\n`) },
  ]);
}

/**
 * A launch-time firewall ruleset over the baked one (/kiln/firewall.nft, which the image's nft loads as its
 * first setup step): a later archive's file replaces an earlier one's as the kernel unpacks them.
 */
export function firewallSegment(ruleset: Buffer, path: string): Buffer {
  const rel = path.replace(/^\/+/, "");
  return writeCpio([
    { path: rel.split("/")[0]!, type: "dir", mode: 0o755 },
    { path: rel, mode: 0o644, data: ruleset },
  ]);
}
