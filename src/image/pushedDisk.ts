/**
 * The disk an orchestrator fetches from where `kiln push` put it: the image's containerDisk (a raw BIOS disk
 * in an OCI image, src/image/containerDisk.ts) with DHCP on its first interface, since KubeVirt's pod network
 * and QEMU's user networking under Nomad both hand out addresses that way and no launcher passes kiln-init a
 * configuration there. It is made here, in a scratch directory, only for its digests: the same image gives
 * the same bytes, so what `pushCommands` pushes is exactly what the manifest or job pins.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { q, usageError } from "../core/errors.js";
import { parseReference, type Reference } from "../core/registry/reference.js";
import type { Image } from "../manifest/imageManifest.js";
import { type FormatOptions, getFormat } from "./format.js";
import { launchableNetCmdline } from "./launchableNet.js";

export interface PushedDisk {
  ref: Reference;
  /** The containerDisk image's manifest digest (what a pull by digest names). */
  manifestDigest: string;
  /** Its one layer: tar+gzip of /disk/disk.img. */
  layerDigest: string;
  layerBytes: number;
  /** What makes and pushes exactly this disk. */
  pushCommands: string[];
}

export function requireRef(format: string, ref: string | undefined): Reference {
  if (ref === undefined) {
    throw usageError(
      "KILN_EREF_MISSING",
      `Cannot write a ${format} description without --ref: it names where the machine's disk is pulled from`,
      `Give the reference you push the disk to: kiln image ${format} IMAGE --ref REGISTRY/NAME:TAG -o OUT.`,
    );
  }
  const parsed = parseReference(ref);
  if (parsed.digest) {
    throw usageError(
      "KILN_EREF_INVALID",
      `Cannot use reference ${q(ref)} with --ref: it names a digest, and kiln pins the digest of the disk it makes`,
      "Give REGISTRY/NAME:TAG.",
    );
  }
  return parsed;
}

/**
 * The kernel boot container instead (src/image/kernelBoot.ts): the kernel and initrd as they are, so the
 * orchestrator gives the command line. Same digests and commands as pushedDisk.
 */
export function pushedKernel(
  image: Image,
  ref: Reference,
  refText: string,
  opts: FormatOptions,
): Promise<PushedDisk> {
  return pushedAs("kernelboot", "kernel", image, ref, opts, {}, [
    `kiln image kernelboot ${image.dir} -o ${image.manifest.name}-kernel.tar`,
    `kiln push ${image.manifest.name}-kernel.tar ${refText}`,
  ]);
}

export function pushedDisk(
  image: Image,
  ref: Reference,
  refText: string,
  opts: FormatOptions,
): Promise<PushedDisk> {
  const net = launchableNetCmdline(image.manifest, "containerdisk", "dhcp");
  // --net dhcp may have put the same words there already (makeLaunchable).
  const cmdline = [opts.cmdline ?? "", opts.cmdline?.includes(net) ? "" : net].join(" ").trim();
  return pushedAs("containerdisk", "disk", image, ref, opts, { cmdline }, [
    `kiln image containerdisk ${image.dir} -o ${image.manifest.name}-disk.tar --net dhcp${opts.cmdline ? ` --cmdline '${opts.cmdline}'` : ""}`,
    `kiln push ${image.manifest.name}-disk.tar ${refText}`,
  ]);
}

/** Make the launchable in scratch space for its digests, and say how to push exactly those bytes. */
async function pushedAs(
  format: "kernelboot" | "containerdisk",
  what: string,
  image: Image,
  ref: Reference,
  opts: FormatOptions,
  make: { cmdline?: string },
  pushCommands: string[],
): Promise<PushedDisk> {
  const work = await mkdtemp(join(tmpdir(), `kiln-pushed-${what}-`));
  try {
    const r = await (await getFormat(format)).make(image, join(work, `${what}.tar`), {
      ...make,
      scratch: true,
      ...(opts.env ? { env: opts.env } : {}),
    });
    const d = r.details as { digest: string; layerDigest: string; layerBytes: number };
    return {
      ref,
      manifestDigest: d.digest,
      layerDigest: d.layerDigest,
      layerBytes: d.layerBytes,
      pushCommands,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Guest ports as given to -p: TCP port numbers. */
export function checkPorts(ports: number[] | undefined): number[] {
  const list = ports ?? [];
  for (const p of list) {
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw usageError(
        "KILN_EBAD_PORT",
        `Cannot publish port ${q(p)}`,
        "Give a TCP port from 1 to 65535: -p 8080.",
      );
  }
  return [...new Set(list)].sort((a, b) => a - b);
}
