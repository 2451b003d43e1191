/**
 * The `oci` launchable: a baked image as an OCI artifact (image-spec v1.1), in an oci-archive tar.
 * artifactType application/vnd.kiln.image.v1; the config blob is the image's manifest.json itself
 * (application/vnd.kiln.image.config.v1+json); the layers are the kernel and the initrd as they are (no
 * tar around them), and a Xen host's hypervisor, titled so that ORAS-style clients name the files, then the
 * image's SBOM as SPDX 2.3 and as
 * CycloneDX 1.6 JSON (what `kiln sbom` prints), so that a registry scanner or `oras pull` finds what is
 * inside without kiln. The index.json descriptor carries
 * a platform as KraftKit's unikernel images do (architecture, os, os.version = kernel release,
 * os.features = the image's components); OCI's `architecture` takes Go's names, so `amd64`.
 * No creation time: the same image gives the same bytes.
 */

import { silentProgress } from "../core/progress.js";
import { ANNOTATION, type ImageManifest, MEDIA } from "../core/registry/ociTypes.js";
import { KILN_VERSION } from "../core/version.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { writeLaunchable } from "./launchableOutput.js";
import {
  artifactFrom,
  descriptorOf,
  imageFileBlob,
  KILN_MEDIA,
  kilnPlatform,
  memoryBlob,
  type OciArtifact,
  writeOciArchive,
} from "./ociLayout.js";

/** Annotation keys of kiln's own, after KraftKit's org.unikraft.kernel.* ones. */
export const KILN_ANNOTATION = {
  platform: "dev.kiln.image.platform",
  kernelRelease: "dev.kiln.kernel.release",
  kernelFormat: "dev.kiln.kernel.format",
  cmdline: "dev.kiln.kernel.cmdline",
} as const;

/** Titles of the SBOM layers: the file names an ORAS-style client writes them to. */
export const SBOM_TITLES = { spdx: "sbom.spdx.json", cyclonedx: "sbom.cdx.json" } as const;

export async function kilnArtifact(
  image: Image,
  opts: { name?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<OciArtifact> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { collectParts } = await import("../compliance/parts.js");
  const { spdxJson } = await import("../compliance/spdx.js");
  const { cyclonedxJson } = await import("../compliance/cyclonedx.js");
  const m = image.manifest;
  const config = memoryBlob(await readFile(join(image.dir, "manifest.json")));
  const kernel = imageFileBlob(image.kernel, m.kernel);
  const initrd = imageFileBlob(image.initrd, m.initrd);
  const hypervisor =
    m.hypervisor && image.hypervisor ? imageFileBlob(image.hypervisor, m.hypervisor) : undefined;
  const parts = await collectParts(image, opts.env ? { env: opts.env } : {});
  const spdx = memoryBlob(Buffer.from(spdxJson(parts)));
  const cdx = memoryBlob(Buffer.from(cyclonedxJson(parts)));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA.manifest,
    artifactType: KILN_MEDIA.artifact,
    config: descriptorOf(config, KILN_MEDIA.config),
    layers: [
      descriptorOf(kernel, KILN_MEDIA.kernel, { [ANNOTATION.title]: m.kernel.file }),
      descriptorOf(initrd, KILN_MEDIA.initrd, { [ANNOTATION.title]: m.initrd.file }),
      ...(hypervisor && m.hypervisor
        ? [descriptorOf(hypervisor, KILN_MEDIA.hypervisor, { [ANNOTATION.title]: m.hypervisor.file })]
        : []),
      descriptorOf(spdx, KILN_MEDIA.sbom, { [ANNOTATION.title]: SBOM_TITLES.spdx }),
      descriptorOf(cdx, KILN_MEDIA.cyclonedx, { [ANNOTATION.title]: SBOM_TITLES.cyclonedx }),
    ],
    annotations: {
      [ANNOTATION.title]: opts.name ?? m.name,
      [ANNOTATION.version]: KILN_VERSION,
      [KILN_ANNOTATION.platform]: m.platform,
      [KILN_ANNOTATION.kernelRelease]: m.kernel.release,
      [KILN_ANNOTATION.kernelFormat]: m.kernel.format,
      [KILN_ANNOTATION.cmdline]: m.cmdline,
    },
  };
  return artifactFrom(manifest, [config, kernel, initrd, ...(hypervisor ? [hypervisor] : []), spdx, cdx], {
    platform: kilnPlatform(image),
  });
}

export const format: LaunchableFormat = {
  name: "oci",
  description:
    "OCI artifact (kernel, initrd, a Xen host's hypervisor, manifest) in an oci-archive tar, for `kiln push` or skopeo",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const progress = opts.progress ?? silentProgress;
    progress.step(`writing OCI archive ${out}`);
    const a = await kilnArtifact(image, {
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.env ? { env: opts.env } : {}),
    });
    const r = await writeLaunchable(out, opts, async (file) => {
      await writeOciArchive(a, file);
      return { digest: a.digest, mediaType: a.mediaType, artifactType: a.artifactType };
    });
    progress.done();
    return { format: "oci", ...r };
  },
};
