/**
 * `kiln pull`: fetch a kiln image from an OCI registry back into an image directory (kernel, initrd,
 * manifest.json), or fetch any image as an oci-archive file. A tag that names an index is followed to its
 * linux/amd64 entry. Every manifest and blob is checked against its digest before it is used, the kernel,
 * initrd and hypervisor also against the digests the image's own manifest states, and the directory (or file)
 * appears in one rename: a failure leaves nothing behind.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeImageDir } from "../bake/writeImage.js";
import { KilnError, q } from "../core/errors.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { type FetchedManifest, RegistryClient, type RegistryClientOptions } from "../core/registry/client.js";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isIndexMediaType,
  isManifestMediaType,
  type Platform,
} from "../core/registry/ociTypes.js";
import {
  formatReference,
  parseReference,
  type Reference,
  referenceTarget,
} from "../core/registry/reference.js";
import type { ImageManifest as KilnManifest } from "../manifest/imageManifest.js";
import { writeLaunchable } from "./launchableOutput.js";
import { KILN_MEDIA, uniqueBy, writeOciArchive } from "./ociLayout.js";

export interface PullOptions extends RegistryClientOptions {
  progress?: Progress;
  /** Replace what is at the output path even if kiln did not write it (src/core/outputPath.ts). */
  force?: boolean;
}

export interface PullResult {
  ref: string;
  out: string;
  /** Digest of the image manifest. */
  digest: string;
  /** Digest of the index the reference named, when it named one. */
  indexDigest?: string;
  files: { name: string; size: number; sha256: string }[];
}

interface Resolved {
  manifest: FetchedManifest;
  json: ImageManifest;
  platform?: Platform;
  indexDigest?: string;
}

function pullError(ref: Reference, why: string, hint: string): KilnError {
  return new KilnError("KILN_EPULL_INVALID", `Cannot pull ${q(formatReference(ref))}: ${why}`, hint);
}

function parseJson<T>(bytes: Buffer, ref: Reference, what: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch {
    throw pullError(ref, `its ${what} is not JSON`, "Check the reference.");
  }
}

async function resolve(client: RegistryClient, ref: Reference, kiln: boolean): Promise<Resolved> {
  const top = await client.getManifest(ref.repository, referenceTarget(ref));
  if (isIndexMediaType(top.mediaType)) {
    const index = parseJson<ImageIndex>(top.bytes, ref, "index");
    const amd64 = (index.manifests ?? []).filter(
      (d) =>
        (!d.platform || (d.platform.architecture === "amd64" && d.platform.os === "linux")) &&
        isManifestMediaType(d.mediaType),
    );
    const pick: Descriptor | undefined =
      (kiln ? amd64.find((d) => d.artifactType === KILN_MEDIA.artifact) : undefined) ?? amd64[0];
    if (!pick) {
      const have = (index.manifests ?? []).map((d) =>
        d.platform ? `${d.platform.os}/${d.platform.architecture}` : d.mediaType,
      );
      throw pullError(
        ref,
        `its index has no linux/amd64 image (it has ${have.join(", ") || "nothing"})`,
        "Push an amd64 image, or name one by digest.",
      );
    }
    const manifest = await client.getManifest(ref.repository, pick.digest);
    if (manifest.bytes.length !== pick.size) {
      throw pullError(
        ref,
        `manifest ${pick.digest} is ${manifest.bytes.length} bytes, the index says ${pick.size}`,
        "The registry's data is inconsistent.",
      );
    }
    return {
      manifest,
      json: parseJson<ImageManifest>(manifest.bytes, ref, "manifest"),
      ...(pick.platform ? { platform: pick.platform } : {}),
      indexDigest: top.digest,
    };
  }
  if (!isManifestMediaType(top.mediaType)) {
    throw pullError(
      ref,
      `it is a ${q(top.mediaType)}, not an image manifest`,
      "Name an OCI image or a kiln artifact.",
    );
  }
  return { manifest: top, json: parseJson<ImageManifest>(top.bytes, ref, "manifest") };
}

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Pull a kiln artifact (as pushed from the `oci` format) into an image directory. */
export async function pullImage(refText: string, dir: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const progress = opts.progress ?? silentProgress;
  const client = new RegistryClient(ref.registry, opts);
  progress.step(`resolving ${formatReference(ref)}`);
  const r = await resolve(client, ref, true);
  progress.done();
  const m = r.json;
  if (!Array.isArray(m.layers)) throw pullError(ref, "its manifest has no layers", "Check the reference.");
  if (m.config?.mediaType !== KILN_MEDIA.config) {
    throw new KilnError(
      "KILN_EPULL_NOT_KILN",
      `Cannot pull ${q(formatReference(ref))} as a kiln image: its config is ${q(m.config?.mediaType)}, not ${q(KILN_MEDIA.config)}`,
      "Pull it as an OCI archive instead: `kiln pull --archive REF FILE.tar` (a containerdisk is an ordinary image).",
    );
  }
  const config = await client.readBlob(ref.repository, m.config.digest);
  if (config.length !== m.config.size) {
    throw pullError(
      ref,
      `its config is ${config.length} bytes, the manifest says ${m.config.size}`,
      "The registry's data is inconsistent.",
    );
  }
  const im = parseJson<KilnManifest>(config, ref, "image manifest (config)");
  if (im.v !== 1 || !im.kernel || !im.initrd) {
    throw pullError(
      ref,
      `its image manifest has version ${q(im.v)}`,
      "This kiln reads version 1; update kiln.",
    );
  }
  const parts = [
    { part: im.kernel, mediaType: KILN_MEDIA.kernel },
    { part: im.initrd, mediaType: KILN_MEDIA.initrd },
    ...(im.hypervisor ? [{ part: im.hypervisor, mediaType: KILN_MEDIA.hypervisor }] : []),
  ];
  const names = new Set<string>(["manifest.json"]);
  const plan = parts.map(({ part, mediaType }) => {
    if (!PLAIN_NAME.test(part.file) || names.has(part.file)) {
      throw pullError(
        ref,
        `its image manifest names the file ${q(part.file)}`,
        "Only plain, distinct file names are allowed; the artifact is not from kiln.",
      );
    }
    names.add(part.file);
    const layer = m.layers.find((l) => l.mediaType === mediaType);
    if (!layer)
      throw pullError(ref, `it has no ${q(mediaType)} layer`, "Push the image again with `kiln push`.");
    if (layer.digest !== `sha256:${part.sha256}` || layer.size !== part.size) {
      throw new KilnError(
        "KILN_EDIGEST",
        `Layer ${q(layer.digest)} of ${q(formatReference(ref))} is not the ${part.file} its image manifest states (sha256:${part.sha256}, ${part.size} bytes)`,
        "The artifact was put together from different images; push it again.",
      );
    }
    return { file: part.file, layer };
  });
  await writeImageDir(dir, opts, async (tmp) => {
    for (const p of plan) {
      progress.step(`pulling ${p.file} (${p.layer.size} bytes)`);
      await client.fetchBlob(ref.repository, p.layer.digest, join(tmp, p.file), { size: p.layer.size });
      progress.done();
    }
    await writeFile(join(tmp, "manifest.json"), config);
  });
  return {
    ref: formatReference(ref),
    out: dir,
    digest: r.manifest.digest,
    ...(r.indexDigest ? { indexDigest: r.indexDigest } : {}),
    files: [
      ...plan.map((p) => ({ name: p.file, size: p.layer.size, sha256: p.layer.digest.slice(7) })),
      { name: "manifest.json", size: config.length, sha256: m.config.digest.slice(7) },
    ],
  };
}

/** Pull any image (kiln artifact, containerdisk, ordinary container image) into an oci-archive file. */
export async function pullArchive(refText: string, out: string, opts: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(refText);
  const progress = opts.progress ?? silentProgress;
  const client = new RegistryClient(ref.registry, opts);
  progress.step(`resolving ${formatReference(ref)}`);
  const r = await resolve(client, ref, false);
  progress.done();
  const m = r.json;
  if (!m.config || !Array.isArray(m.layers))
    throw pullError(ref, "its manifest has no config or layers", "Check the reference.");
  const written = await writeLaunchable(out, opts, async (file, work) => {
    const blobs = [];
    for (const d of uniqueBy([m.config, ...m.layers], (d) => d.digest)) {
      progress.step(`pulling blob ${d.digest.slice(7, 19)} (${d.size} bytes)`);
      const path = join(work, `blob-${d.digest.slice(7)}`);
      await client.fetchBlob(ref.repository, d.digest, path, { size: d.size });
      blobs.push({ digest: d.digest, size: d.size, mediaType: d.mediaType, path });
      progress.done();
    }
    await writeOciArchive(
      {
        manifest: r.manifest.bytes,
        digest: r.manifest.digest,
        mediaType: r.manifest.mediaType,
        ...(r.platform ? { platform: r.platform } : {}),
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        blobs,
      },
      file,
      ref.tag ?? "latest",
    );
    return undefined;
  });
  return {
    ref: formatReference(ref),
    out,
    digest: r.manifest.digest,
    ...(r.indexDigest ? { indexDigest: r.indexDigest } : {}),
    files: [{ name: written.out, size: written.size, sha256: written.sha256 }],
  };
}
