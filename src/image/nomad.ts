/**
 * The `nomad` format: a Nomad job (the JSON the HTTP API and `nomad job run -json` take: {"Job": ...}) for
 * Nomad's `qemu` task driver. Its artifact is the disk where `kiln push` put it: the containerDisk's one
 * layer (tar+gzip of disk/disk.img, src/image/pushedDisk.ts) fetched straight from the registry's blob URL
 * (GET /v2/NAME/blobs/DIGEST, the OCI distribution API), checked by its digest and unpacked by go-getter
 * (`checksum`, `archive` options) into the task's local/ directory, which image_path names. The driver boots
 * it with QEMU's pc machine and -nographic, so the serial console is the task's log; -p ports become dynamic
 * ports whose labels port_map forwards to the guest through QEMU's user networking (the driver adds the
 * hostfwd rules). A job that serves ports is a service, else a batch job. The fields used are checked
 * against Nomad's API in the tests.
 */
import { writeFile } from "node:fs/promises";
import { registryEndpoint, registryScheme } from "../core/registry/reference.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { k8sName, machineMemory } from "./kubevirt.js";
import { writeLaunchable } from "./launchableOutput.js";
import { checkPorts, type PushedDisk, pushedDisk, requireRef } from "./pushedDisk.js";

/** Where the containerDisk's layer is, as a plain GET: the registry's blob endpoint. */
export function blobUrl(disk: Pick<PushedDisk, "ref" | "layerDigest">, env?: NodeJS.ProcessEnv): string {
  const scheme = registryScheme(disk.ref.registry, env ? { env } : {});
  return `${scheme}://${registryEndpoint(disk.ref.registry)}/v2/${disk.ref.repository}/blobs/${disk.layerDigest}`;
}

/** A port label Nomad accepts (and interpolates as NOMAD_PORT_<label>). */
const label = (p: number) => `p${p}`;

export interface NomadInput {
  name: string;
  source: string;
  layerDigest: string;
  memoryMiB: number;
  ports: number[];
}

export function nomadJob(i: NomadInput): Record<string, unknown> {
  return {
    Job: {
      ID: i.name,
      Name: i.name,
      Type: i.ports.length > 0 ? "service" : "batch",
      Datacenters: ["*"],
      TaskGroups: [
        {
          Name: i.name,
          Count: 1,
          Tasks: [
            {
              Name: i.name,
              Driver: "qemu",
              Config: {
                image_path: "local/disk/disk.img",
                accelerator: "kvm",
                ...(i.ports.length > 0
                  ? { port_map: Object.fromEntries(i.ports.map((p) => [label(p), p])) }
                  : {}),
              },
              Artifacts: [
                {
                  GetterSource: i.source,
                  GetterOptions: { checksum: i.layerDigest, archive: "tar.gz" },
                  RelativeDest: "local/",
                },
              ],
              Resources: {
                CPU: 500,
                MemoryMB: i.memoryMiB,
                ...(i.ports.length > 0
                  ? { Networks: [{ DynamicPorts: i.ports.map((p) => ({ Label: label(p) })) }] }
                  : {}),
              },
            },
          ],
        },
      ],
    },
  };
}

export const format: LaunchableFormat = {
  name: "nomad",
  description: "Nomad job (JSON) for the qemu driver, fetching the image's pushed disk from the registry",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const ref = requireRef("nomad", opts.ref);
    const ports = checkPorts(opts.ports);
    const disk = await pushedDisk(image, ref, opts.ref!, opts);
    const name = k8sName(opts.name ?? image.manifest.name);
    const job = nomadJob({
      name,
      source: blobUrl(disk, opts.env),
      layerDigest: disk.layerDigest,
      memoryMiB: await machineMemory(image),
      ports,
    });
    const r = await writeLaunchable(out, opts, async (file) => {
      await writeFile(file, `${JSON.stringify(job, null, 2)}\n`);
      return { name, layer: disk.layerDigest, push: disk.pushCommands };
    });
    return { format: "nomad", ...r };
  },
};
