/**
 * The `kubevirt` format: a Kubernetes List with a KubeVirt VirtualMachine (kubevirt.io/v1) that boots the
 * image's containerDisk from where `kiln push` puts it (pinned by digest: src/image/pushedDisk.ts), and, for
 * -p ports, a Service in front of it. `kubectl apply -f OUT` takes it as it is (JSON is YAML).
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
import { imageMemory } from "../launch/imageMemory.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { writeLaunchable } from "./launchableOutput.js";
import { checkPorts, pushedDisk, requireRef } from "./pushedDisk.js";

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
  /** The containerDisk, by tag and digest. */
  diskImage: string;
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
            devices: {
              autoattachSerialConsole: true,
              disks: [{ name: "disk", disk: { bus: "virtio" } }],
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
          volumes: [{ name: "disk", containerDisk: { image: i.diskImage, imagePullPolicy: "IfNotPresent" } }],
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

/** The memory a VM of this image asks for: what `kiln launch` gives it by default, at least 128 MiB. */
export async function machineMemory(image: Image): Promise<number> {
  const needs = await imageMemory(image.kernel, image.manifest.initrd.size);
  return Math.max(needs?.defaultMiB ?? 128, image.manifest.memory ?? 0, 128);
}

export const format: LaunchableFormat = {
  name: "kubevirt",
  description:
    "KubeVirt VirtualMachine (and a Service for -p ports) booting the image's pushed containerDisk",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const ref = requireRef("kubevirt", opts.ref);
    const ports = checkPorts(opts.ports);
    const disk = await pushedDisk(image, ref, opts.ref!, opts);
    const name = k8sName(opts.name ?? image.manifest.name);
    const manifest = kubevirtManifest({
      name,
      diskImage: formatReference({ ...ref, digest: disk.manifestDigest }),
      memoryMiB: await machineMemory(image),
      ports,
      image: image.manifest.name,
    });
    const r = await writeLaunchable(out, opts, async (file) => {
      await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
      return { name, containerDisk: disk.manifestDigest, push: disk.pushCommands };
    });
    return { format: "kubevirt", ...r };
  },
};
