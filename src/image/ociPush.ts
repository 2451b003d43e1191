/**
 * `kiln push`: send an image to an OCI registry. The input is a baked image directory (made into the
 * `oci` or `containerdisk` launchable first, in a scratch directory) or an oci-archive file. Blobs go first
 * (each skipped when the registry has it), then the manifest by digest, then under the tag an image index
 * that names it with its platform, as KraftKit publishes unikernels: `kiln pull` and container runtimes
 * pick the linux/amd64 entry, and the platform survives the round trip.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { RegistryClient, type RegistryClientOptions } from "../core/registry/client.js";
import { type Descriptor, type ImageIndex, MEDIA } from "../core/registry/ociTypes.js";
import { formatReference, parseReference } from "../core/registry/reference.js";
import { openStore } from "../core/store.js";
import { testPause } from "../core/testPause.js";
import { notAFile } from "../core/userFile.js";
import { openImage } from "../manifest/imageManifest.js";
import { getFormat } from "./format.js";
import { type OciArtifact, readOciArchive } from "./ociLayout.js";

export const PUSH_FORMATS = ["oci", "containerdisk"] as const;
export type PushFormat = (typeof PUSH_FORMATS)[number];

export interface PushOptions extends RegistryClientOptions {
  /** For an image directory: which launchable to push (default oci). */
  format?: PushFormat;
  progress?: Progress;
}

export interface PushResult {
  ref: string;
  /** Digest of the image manifest. */
  digest: string;
  /** Digest of the index the tag points to (absent when pushed by digest only). */
  indexDigest?: string;
  mediaType: string;
  artifactType?: string;
  blobs: { digest: string; size: number; uploaded: boolean }[];
  bytesUploaded: number;
}

export async function pushImage(input: string, refText: string, opts: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(refText);
  const progress = opts.progress ?? silentProgress;
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(input);
  } catch (e) {
    throw missingOr(e, input, "read", () =>
      usageError(
        "KILN_EPUSH_INPUT",
        `Cannot push ${q(input)}: no such file or directory`,
        "Give a baked image directory or an oci-archive made by `kiln image oci|containerdisk`.",
      ),
    );
  }
  if (!st.isDirectory()) {
    if (!st.isFile()) throw notAFile(input, "image", st);
    if (opts.format) {
      throw usageError(
        "KILN_EPUSH_INPUT",
        `Cannot push ${q(input)} --format ${opts.format}: it is already an archive`,
        "Drop --format, or give the image directory to push it in another format.",
      );
    }
    return pushArtifact(await readOciArchive(input), refText, opts);
  }
  const format = opts.format ?? "oci";
  if (!PUSH_FORMATS.includes(format)) {
    throw usageError(
      "KILN_EPUSH_FORMAT",
      `Cannot push format ${q(format)}`,
      `Use one of: ${PUSH_FORMATS.join(", ")}.`,
    );
  }
  const image = await openImage(input, opts.env ? { env: opts.env } : {});
  return openStore(opts.env).withTmpDir(async (scratch) => {
    const archive = join(scratch, `${format}.tar`);
    await (await getFormat(format)).make(image, archive, {
      progress,
      scratch: true,
      ...(opts.env ? { env: opts.env } : {}),
    });
    await testPause("push:archive-written");
    return await pushArtifact(await readOciArchive(archive), formatReference(ref), opts);
  });
}

/** Push one artifact's blobs and manifest, then the tag (an index when the artifact has a platform). */
export async function pushArtifact(
  a: OciArtifact,
  refText: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  const ref = parseReference(refText);
  const progress = opts.progress ?? silentProgress;
  const client = new RegistryClient(ref.registry, opts);
  const blobs: PushResult["blobs"] = [];
  let bytes = 0;
  for (const b of a.blobs) {
    progress.step(`pushing blob ${b.digest.slice(7, 19)} (${b.size} bytes)`);
    const { uploaded } = await client.pushBlob(ref.repository, b);
    if (uploaded) bytes += b.size;
    blobs.push({ digest: b.digest, size: b.size, uploaded });
    progress.done(`${uploaded ? "pushed" : "already there:"} blob ${b.digest.slice(7, 19)}`);
  }
  if (ref.digest && ref.digest !== a.digest) {
    throw usageError(
      "KILN_EREF_DIGEST",
      `Cannot push to ${q(refText)}: the manifest's digest is ${q(a.digest)}`,
      "Push to a tag, or to the manifest's own digest.",
    );
  }
  progress.step(`pushing manifest ${a.digest}`);
  await client.putManifest(ref.repository, a.digest, a.manifest, a.mediaType);
  await testPause("push:manifest-put");
  let indexDigest: string | undefined;
  if (ref.tag) {
    if (a.platform) {
      const desc: Descriptor = {
        mediaType: a.mediaType,
        digest: a.digest,
        size: a.manifest.length,
        ...(a.artifactType ? { artifactType: a.artifactType } : {}),
        platform: a.platform,
      };
      const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [desc] };
      indexDigest = await client.putManifest(
        ref.repository,
        ref.tag,
        Buffer.from(JSON.stringify(index)),
        MEDIA.index,
      );
    } else {
      await client.putManifest(ref.repository, ref.tag, a.manifest, a.mediaType);
    }
  }
  progress.done();
  return {
    ref: formatReference(ref),
    digest: a.digest,
    ...(indexDigest ? { indexDigest } : {}),
    mediaType: a.mediaType,
    ...(a.artifactType ? { artifactType: a.artifactType } : {}),
    blobs,
    bytesUploaded: bytes,
  };
}
