/**
 * The `containerdisk` launchable: KubeVirt's containerDisk, an ordinary OCI image (config with
 * architecture amd64, os linux) whose one layer holds the VM disk at /disk/disk.img, owned by uid/gid 107
 * (qemu, which KubeVirt's virt-launcher runs as) with mode 0440, as KubeVirt's own container-disk images
 * are built (pkg_tar mode 440, owner 107.107, package_dir /disk). The disk is the `raw-bios` launchable
 * (KubeVirt boots it with SeaBIOS by default). The layer is gzip-compressed (mostly zeros compress well);
 * Node's zlib writes no time into the gzip header, so the same image gives the same bytes.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { silentProgress } from "../core/progress.js";
import { ANNOTATION, type ImageManifest, MEDIA } from "../core/registry/ociTypes.js";
import { type TarEntry, tarStream } from "../core/tarWriter.js";
import { KILN_VERSION } from "../core/version.js";
import type { Image } from "../manifest/imageManifest.js";
import { type FormatOptions, getFormat, type LaunchableFormat, type LaunchableResult } from "./format.js";
import { writeLaunchable } from "./launchableOutput.js";
import { artifactFrom, descriptorOf, memoryBlob, type OciArtifact, writeOciArchive } from "./ociLayout.js";

export const DISK_PATH = "disk/disk.img";
export const QEMU_UID = 107;

/** Which disk launchable goes inside (KubeVirt boots either; BIOS is its default firmware). */
export const DISK_FORMAT = "raw-bios";

/** Make the layer (tar+gzip of /disk/disk.img) from a raw disk: its digest, its diff_id, its size. */
export async function diskLayer(
  raw: string,
  layerOut: string,
): Promise<{ digest: string; diffId: string; size: number }> {
  const { size } = await stat(raw);
  return gzipLayer(
    [
      { name: "disk", type: "directory", mode: 0o755 },
      { name: DISK_PATH, path: raw, size, mode: 0o440, uid: QEMU_UID, gid: QEMU_UID },
    ],
    layerOut,
  );
}

/** A container image layer (tar+gzip of `entries`): its digest, its diff_id (the tar's), its size. */
export async function gzipLayer(
  entries: TarEntry[],
  layerOut: string,
): Promise<{ digest: string; diffId: string; size: number }> {
  const tarHash = createHash("sha256");
  const gzHash = createHash("sha256");
  let gzSize = 0;
  const tap = (h: ReturnType<typeof createHash>, count?: (n: number) => void) =>
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        h.update(chunk);
        count?.(chunk.length);
        cb(null, chunk);
      },
    });
  await pipeline(
    tarStream(entries),
    tap(tarHash),
    createGzip({ level: 6 }),
    tap(gzHash, (n) => {
      gzSize += n;
    }),
    createWriteStream(layerOut),
  );
  return {
    digest: `sha256:${gzHash.digest("hex")}`,
    diffId: `sha256:${tarHash.digest("hex")}`,
    size: gzSize,
  };
}

/** The containerDisk image around a layer made by diskLayer(). */
export function containerDiskArtifact(
  image: Image,
  layer: { path: string; digest: string; diffId: string; size: number },
  name?: string,
  madeBy = "image containerdisk",
): OciArtifact {
  const config = memoryBlob(
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {
          Labels: {
            [ANNOTATION.title]: name ?? image.manifest.name,
            [ANNOTATION.version]: KILN_VERSION,
          },
        },
        rootfs: { type: "layers", diff_ids: [layer.diffId] },
        history: [{ created_by: `kiln ${KILN_VERSION} ${madeBy}` }],
      }),
    ),
  );
  const layerBlob = { digest: layer.digest, size: layer.size, path: layer.path };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    config: descriptorOf(config, MEDIA.config),
    layers: [descriptorOf(layerBlob, MEDIA.layerTarGzip)],
    annotations: {
      [ANNOTATION.title]: name ?? image.manifest.name,
      [ANNOTATION.version]: KILN_VERSION,
    },
  };
  return artifactFrom(manifest, [config, layerBlob], { platform: { architecture: "amd64", os: "linux" } });
}

export const format: LaunchableFormat = {
  name: "containerdisk",
  description: "KubeVirt containerDisk: OCI image with the raw BIOS disk at /disk/disk.img (oci-archive tar)",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const progress = opts.progress ?? silentProgress;
    const r = await writeLaunchable(out, opts, async (file, work) => {
      const raw = join(work, "disk.img");
      await (await getFormat(DISK_FORMAT)).make(image, raw, { ...opts, progress, scratch: true });
      progress.step(`writing containerDisk ${out}`);
      const layerPath = join(work, "layer.tar.gz");
      const layer = await diskLayer(raw, layerPath);
      const a = containerDiskArtifact(image, { path: layerPath, ...layer }, opts.name);
      await writeOciArchive(a, file);
      progress.done();
      return {
        digest: a.digest,
        disk: DISK_FORMAT,
        diskBytes: (await stat(raw)).size,
        layerDigest: layer.digest,
        layerBytes: layer.size,
      };
    });
    return { format: "containerdisk", ...r };
  },
};
