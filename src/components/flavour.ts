/**
 * Kernel flavours: which of Debian's kernel packages a stock kernel comes from. `cloud` (the default) is
 * small and has the virtio and Xen guest drivers; `generic` (Debian's linux-image-amd64) adds Xen dom0
 * support and the bare-metal drivers (e1000, ahci, usb storage) the cloud kernel leaves out. Each flavour
 * is fetched and kept on its own, so choosing one never replaces the other.
 */
import { q, usageError } from "../core/errors.js";

export type KernelFlavour = "cloud" | "generic";

export const FLAVOURS: Record<KernelFlavour, { meta: string; description: string }> = {
  cloud: {
    meta: "linux-image-cloud-amd64",
    description: "Debian's cloud kernel (virtio, Xen guests; small)",
  },
  generic: {
    meta: "linux-image-amd64",
    description: "Debian's generic kernel (Xen dom0, bare-metal drivers)",
  },
};

export const DEFAULT_FLAVOUR: KernelFlavour = "cloud";

export function isFlavour(s: string): s is KernelFlavour {
  return Object.hasOwn(FLAVOURS, s);
}

export function parseFlavour(s: string): KernelFlavour {
  if (!isFlavour(s))
    throw usageError(
      "KILN_EFLAVOUR",
      `Unknown kernel flavour ${q(s)}`,
      `Use one of: ${Object.keys(FLAVOURS).join(", ")}.`,
    );
  return s;
}

/**
 * The flavour of one of Debian's kernel packages, from its name: linux-image-6.1.0-57-cloud-amd64 is cloud,
 * linux-image-6.1.0-57-amd64 generic; any other package (imported with --deb) is the default flavour.
 */
export function flavourOfPackage(name: string): KernelFlavour {
  if (/^linux-image-[0-9.]+-[0-9]+-cloud-amd64$/.test(name)) return "cloud";
  if (/^linux-image-[0-9.]+-[0-9]+-amd64$/.test(name)) return "generic";
  return DEFAULT_FLAVOUR;
}
