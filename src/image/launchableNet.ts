import { q, usageError } from "../core/errors.js";
import type { ImageManifest } from "../manifest/imageManifest.js";

/** Formats that exist for one cloud: their machines always have a NIC, and the cloud's network answers DHCP. */
export const CLOUD_FORMATS: ReadonlySet<string> = new Set(["gce", "vhd"]);

export type LaunchableNet = "dhcp" | "none";

export function parseLaunchableNet(value: string): LaunchableNet {
  if (value === "dhcp" || value === "none") return value;
  throw usageError(
    "KILN_ENET_INVALID",
    `Cannot use --net ${q(value)} for a launchable`,
    "Give --net dhcp (the first interface asks the network for an address) or --net none (the image's own configuration).",
  );
}

/**
 * The kernel command line words that configure a launchable's network, or none. A launchable has no launcher
 * to hand kiln-init a run-time configuration, so without this an image baked with no `net` boots with no
 * address. `net` unset: DHCP on eth0 for cloud formats whose image has no network configuration of its own;
 * `dhcp` asks for it whatever the image says (kiln.config on the command line wins key by key over the baked
 * configuration); `none` adds nothing.
 */
export function launchableNetCmdline(manifest: ImageManifest, format: string, net?: LaunchableNet): string {
  const want = net ?? (CLOUD_FORMATS.has(format) && !manifest.config.net ? "dhcp" : "none");
  if (want === "none") return "";
  const cfg = { v: 1, net: [{ if: "eth0", dhcp: true }] };
  return `kiln.config=${Buffer.from(JSON.stringify(cfg)).toString("base64url")}`;
}
