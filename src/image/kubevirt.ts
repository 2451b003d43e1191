/**
 * The `kubevirt` format: a Kubernetes List with a KubeVirt VirtualMachine (kubevirt.io/v1) and, for -p ports,
 * a Service in front of it. `kubectl apply -f OUT` takes it as it is (JSON is YAML). The VM boots the image
 * from where `kiln push` puts it, pinned by digest (src/image/pushedDisk.ts): by default through KubeVirt's
 * kernel boot (firmware.kernelBoot: the kernel and initrd from a container, src/image/kernelBoot.ts, with
 * kiln's command line as kernelArgs, so --cmdline and the network's configuration reach kiln-init), or with
 * --boot disk from the containerDisk (a BIOS disk whose command line is baked into it).
 * - resources: the memory the image needs (its kernel and initrd, as `kiln launch` reckons it), one core;
 * - the console: the serial console KubeVirt attaches (`virtctl console NAME`), where the disk's kernel
 *   writes (console=ttyS0 on its command line);
 * - the network: the pod network with masquerade binding, whose DHCP server gives the guest its address;
 *   the ports are declared on the interface and published by the Service (selected by the VM's label).
 * A program that ends powers the VM off: runStrategy RerunOnFailure leaves it off unless it failed; a VM
 * that serves ports runs Always. The fields used are checked against KubeVirt's API in the tests.
 */
import { writeFile } from "node:fs/promises";
import { q, usageError } from "../core/errors.js";
import { formatReference } from "../core/registry/reference.js";
import { composeCmdline } from "../launch/cmdline.js";
import { imageMemory } from "../launch/imageMemory.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { INITRD_PATH, KERNEL_PATH } from "./kernelBoot.js";
import { launchableCmdline } from "./launchableCmdline.js";
import { launchableNetCmdline } from "./launchableNet.js";
import { writeLaunchable } from "./launchableOutput.js";
import { checkPorts, pushedDisk, pushedKernel, requireRef } from "./pushedDisk.js";

/** A Kubernetes object name (RFC 1123 label): what a VM and a Service must be called. */
export function k8sName(s: string): string {
  const n = s
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  if (!n) {
    throw usageError(
      "KILN_EBAD_NAME",
      `Cannot make a Kubernetes name of ${q(s)}`,
      "Give --name with lowercase letters, digits and '-'.",
    );
  }
  return n;
}

export interface KubevirtInput {
  name: string;
  /** The container the VM boots from, by tag and digest: a kernel boot container, or a containerDisk. */
  boot: { kernel: string; kernelArgs: string } | { disk: string };
  memoryMiB: number;
  ports: number[];
  image: string;
}

export function kubevirtManifest(i: KubevirtInput): Record<string, unknown> {
  const labels = { "app.kubernetes.io/name": i.name, "app.kubernetes.io/managed-by": "kiln" };
  const vm = {
    apiVersion: "kubevirt.io/v1",
    kind: "VirtualMachine",
    metadata: { name: i.name, labels, annotations: { "kiln.dev/image": i.image } },
    spec: {
      runStrategy: i.ports.length > 0 ? "Always" : "RerunOnFailure",
      template: {
        metadata: { labels },
        spec: {
          domain: {
            cpu: { cores: 1 },
            resources: { requests: { memory: `${i.memoryMiB}Mi` } },
            ...("kernel" in i.boot
              ? {
                  firmware: {
                    kernelBoot: {
                      kernelArgs: i.boot.kernelArgs,
                      container: {
                        image: i.boot.kernel,
                        kernelPath: KERNEL_PATH,
                        initrdPath: INITRD_PATH,
                        imagePullPolicy: "IfNotPresent",
                      },
                    },
                  },
                }
              : {}),
            devices: {
              autoattachSerialConsole: true,
              ...("disk" in i.boot ? { disks: [{ name: "disk", disk: { bus: "virtio" } }] } : {}),
              interfaces: [
                {
                  name: "default",
                  masquerade: {},
                  model: "virtio",
                  ...(i.ports.length > 0
                    ? { ports: i.ports.map((p) => ({ name: `tcp-${p}`, port: p, protocol: "TCP" })) }
                    : {}),
                },
              ],
            },
          },
          networks: [{ name: "default", pod: {} }],
          terminationGracePeriodSeconds: 0,
          ...("disk" in i.boot
            ? {
                volumes: [
                  { name: "disk", containerDisk: { image: i.boot.disk, imagePullPolicy: "IfNotPresent" } },
                ],
              }
            : {}),
        },
      },
    },
  };
  const items: Record<string, unknown>[] = [vm];
  if (i.ports.length > 0) {
    items.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: i.name, labels },
      spec: {
        type: "ClusterIP",
        selector: { "app.kubernetes.io/name": i.name },
        ports: i.ports.map((p) => ({ name: `tcp-${p}`, port: p, targetPort: p, protocol: "TCP" })),
      },
    });
  }
  return { apiVersion: "v1", kind: "List", items };
}

/**
 * The kernel command line of a kernel boot: the launchable one (the image's, a serial console, --cmdline),
 * DHCP on the pod network's interface (masquerade: KubeVirt's DHCP server hands out the address) unless
 * --net already said how, and power-off ending the VM.
 */
export function kernelArgs(image: Image, extra?: string): string {
  const net = launchableNetCmdline(image.manifest, "kubevirt", "dhcp");
  const words = [extra ?? "", extra?.includes(net) ? "" : net].join(" ").trim();
  return composeCmdline(launchableCmdline(image.manifest, words || undefined), {
    override: [],
    ifAbsent: ["reboot=t", "panic=-1"],
  });
}

/** The memory a VM of this image asks for: what `kiln launch` gives it by default, at least 128 MiB. */
export async function machineMemory(image: Image): Promise<number> {
  const needs = await imageMemory(image.kernel, image.manifest.initrd.size);
  return Math.max(needs?.defaultMiB ?? 128, image.manifest.memory ?? 0, 128);
}

export const format: LaunchableFormat = {
  name: "kubevirt",
  description:
    "KubeVirt VirtualMachine (and a Service for -p ports) booting the image's pushed kernel (or containerDisk)",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const ref = requireRef("kubevirt", opts.ref);
    const ports = checkPorts(opts.ports);
    const kernel = (opts.boot ?? "kernel") === "kernel";
    const disk = kernel
      ? await pushedKernel(image, ref, opts.ref!, opts)
      : await pushedDisk(image, ref, opts.ref!, opts);
    const pinned = formatReference({ ...ref, digest: disk.manifestDigest });
    const name = k8sName(opts.name ?? image.manifest.name);
    const manifest = kubevirtManifest({
      name,
      boot: kernel ? { kernel: pinned, kernelArgs: kernelArgs(image, opts.cmdline) } : { disk: pinned },
      memoryMiB: await machineMemory(image),
      ports,
      image: image.manifest.name,
    });
    const r = await writeLaunchable(out, opts, async (file) => {
      await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
      return { name, boot: kernel ? "kernel" : "disk", pinned, push: disk.pushCommands };
    });
    return { format: "kubevirt", ...r };
  },
};
