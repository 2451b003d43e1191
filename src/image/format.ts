import { q, usageError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import type { Image } from "../manifest/imageManifest.js";

/**
 * A launchable format: something another system launches, made from a baked image.
 * Contract: make() reads a baked image (never modifies it) and writes exactly one file at `out`, atomically
 * (temp + rename; no partial file on failure); same image + options → same bytes. Missing host tools or
 * firmware are KilnErrors naming the Debian package; an image that does not fit `sizeMB` is
 * KILN_EDISK_TOO_SMALL. make() never prints: it reports through `progress` and returns data.
 */
export interface LaunchableFormat {
  name: string;
  description: string;
  make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult>;
}

export interface FormatOptions {
  /** Disk size in MiB for disk formats (default: just big enough). */
  sizeMB?: number;
  /** Name for formats that carry one (package name, volume label...). Default: the manifest's name. */
  name?: string;
  /** Environment used for tool lookups and firmware overrides (KILN_OVMF, KILN_EFI_STUB, KILN_SYSLINUX_DIR). */
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Extra kernel command line appended after the image's own. */
  cmdline?: string;
  /** Replace what is at `out` even if kiln did not write it (src/core/outputPath.ts). */
  force?: boolean;
  /** `out` is in a work directory of kiln's own that goes away: not recorded as the user's output. */
  scratch?: boolean;
  /** Extra words for the hypervisor's command line, for an image that boots under one (a Xen host). */
  hypervisorCmdline?: string;
  /** --net as given (src/image/launchableNet.ts): formats that describe a machine give it a NIC for dhcp. */
  net?: "dhcp" | "none";
  /** Where `kiln push` puts the image (REGISTRY/NAME:TAG), for formats that tell an orchestrator to fetch it. */
  ref?: string;
  /** kubevirt: boot the kernel from a container (KubeVirt's kernel boot, the default) or the containerDisk. */
  boot?: "kernel" | "disk";
  /** Guest TCP ports the machine serves, for formats that publish them (a Kubernetes Service, Nomad ports). */
  ports?: number[];
}

export interface LaunchableResult {
  format: string;
  out: string;
  size: number;
  sha256: string;
  details?: Record<string, unknown>;
}

/**
 * Lazy loaders: each module exports `format: LaunchableFormat` and is loaded only when asked for. The
 * specifier is computed so that the build does not depend on every format module being present.
 */
type Loader = () => Promise<LaunchableFormat>;
const load =
  (file: string): Loader =>
  async () =>
    ((await import(`./${file}.js`)) as { format: LaunchableFormat }).format;

export const FORMATS: Record<string, Loader> = {
  raw: load("rawHybrid"),
  "raw-bios": load("rawBios"),
  "raw-uefi": load("rawUefi"),
  iso: load("iso"),
  qcow2: load("qcow2"),
  vmdk: load("vmdk"),
  vhd: load("vhd"),
  gce: load("gce"),
  oci: load("oci"),
  containerdisk: load("containerDisk"),
  kernelboot: load("kernelBoot"),
  deb: load("deb"),
  libvirt: load("libvirtXml"),
  kubevirt: load("kubevirt"),
  nomad: load("nomad"),
};

export async function getFormat(name: string): Promise<LaunchableFormat> {
  const loader = Object.hasOwn(FORMATS, name) ? FORMATS[name] : undefined;
  if (!loader) {
    const known = Object.keys(FORMATS);
    throw usageError(
      "KILN_EFORMAT_UNKNOWN",
      `Unknown launchable format ${q(name)}`,
      `Use one of: ${known.join(", ")}.`,
      { known },
    );
  }
  return loader();
}
