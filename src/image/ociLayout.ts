/**
 * OCI image layouts carried as one tar file (`oci-archive`, as skopeo and podman call it): `oci-layout`,
 * `index.json` naming one manifest, and `blobs/sha256/<hex>`. Written deterministically (sorted entries,
 * mtime 0, root owners) and atomically; read without unpacking: the tar is indexed and each blob is used
 * as a byte range of the file, so a large disk layer is streamed straight from it when pushing.
 */
import { createWriteStream } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { sha256 } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import type { BlobSource } from "../core/registry/client.js";
import {
  ANNOTATION,
  type Descriptor,
  DIGEST_RE,
  type ImageIndex,
  type ImageManifest,
  isIndexMediaType,
  MEDIA,
  type Platform,
} from "../core/registry/ociTypes.js";
import { scratchBeside } from "../core/scratchName.js";
import { type TarEntry, tarStream } from "../core/tarWriter.js";
import type { Image } from "../manifest/imageManifest.js";

/** One manifest with all the blobs it names, ready to be archived or pushed. */
export interface OciArtifact {
  manifest: Buffer;
  digest: string;
  mediaType: string;
  /** Descriptor fields for index.json (the platform, the artifact type). */
  platform?: Platform;
  artifactType?: string;
  /** Config first, then layers; each blob once. */
  blobs: BlobSource[];
}

export const KILN_MEDIA = {
  artifact: "application/vnd.kiln.image.v1",
  config: "application/vnd.kiln.image.config.v1+json",
  kernel: "application/vnd.kiln.kernel.v1",
  initrd: "application/vnd.kiln.initrd.v1",
  hypervisor: "application/vnd.kiln.hypervisor.v1",
  sbom: "application/spdx+json",
  cyclonedx: "application/vnd.cyclonedx+json",
} as const;

/** Serialise a manifest the one way kiln does (key order as built, no spaces), for stable digests. */
export function artifactFrom(
  manifest: ImageManifest,
  blobs: BlobSource[],
  extra: { platform?: Platform } = {},
): OciArtifact {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const unique = uniqueBy(blobs, (b) => b.digest);
  return {
    manifest: bytes,
    digest: `sha256:${sha256(bytes)}`,
    mediaType: manifest.mediaType,
    ...(extra.platform ? { platform: extra.platform } : {}),
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    blobs: unique,
  };
}

export function descriptorOf(
  b: BlobSource,
  mediaType: string,
  annotations?: Record<string, string>,
): Descriptor {
  return { mediaType, digest: b.digest, size: b.size, ...(annotations ? { annotations } : {}) };
}

export function memoryBlob(data: Uint8Array): BlobSource {
  return { digest: `sha256:${sha256(data)}`, size: data.length, data };
}

/** A blob from an image file whose digest the image manifest already states (checked when it is read). */
export function imageFileBlob(path: string, part: { sha256: string; size: number }): BlobSource {
  return { digest: `sha256:${part.sha256}`, size: part.size, path };
}

export function indexJson(a: OciArtifact, refName: string | undefined): Buffer {
  const desc: Descriptor = {
    mediaType: a.mediaType,
    digest: a.digest,
    size: a.manifest.length,
    ...(a.artifactType ? { artifactType: a.artifactType } : {}),
    ...(a.platform ? { platform: a.platform } : {}),
    ...(refName ? { annotations: { [ANNOTATION.refName]: refName } } : {}),
  };
  const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA.index, manifests: [desc] };
  return Buffer.from(JSON.stringify(index));
}

const LAYOUT = Buffer.from(JSON.stringify({ imageLayoutVersion: "1.0.0" }));

/**
 * Write the artifact as an oci-archive at `out` (temp file + rename). Blobs that come from files are
 * checked against their digests while they are copied, so a changed image file fails with KILN_EDIGEST.
 */
export async function writeOciArchive(
  a: OciArtifact,
  out: string,
  refName: string | undefined = "latest",
): Promise<void> {
  const entries: TarEntry[] = [
    { name: "blobs", type: "directory" },
    { name: "blobs/sha256", type: "directory" },
    { name: "oci-layout", data: LAYOUT },
    { name: "index.json", data: indexJson(a, refName) },
    { name: `blobs/sha256/${hexOf(a.digest)}`, data: a.manifest },
  ];
  const seen = new Set([a.digest]);
  for (const b of a.blobs) {
    if (seen.has(b.digest)) continue;
    seen.add(b.digest);
    entries.push({
      name: `blobs/sha256/${hexOf(b.digest)}`,
      ...(b.data ? { data: b.data } : { path: b.path!, offset: b.offset ?? 0, size: b.size }),
    });
  }
  const tmp = await scratchBeside(out);
  try {
    await pipeline(tarStream(entries), createWriteStream(tmp));
    await verifyFileBlobs(tmp, a);
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Check the blobs that were copied from files (memory blobs were hashed when made). */
async function verifyFileBlobs(archive: string, a: OciArtifact): Promise<void> {
  const fromFiles = a.blobs.filter((b) => !b.data);
  if (fromFiles.length === 0) return;
  const idx = await indexTar(archive);
  for (const b of fromFiles) {
    const e = idx.get(`blobs/sha256/${hexOf(b.digest)}`)!;
    const actual = await hashRange(archive, e.offset, e.size);
    if (actual !== b.digest) {
      throw new KilnError(
        "KILN_EDIGEST",
        `Digest of ${q(b.path)} is ${q(actual)}, the image manifest says ${q(b.digest)}`,
        "The image was changed after it was baked; bake it again.",
        { details: { expected: b.digest, actual } },
      );
    }
  }
}

/** Items with distinct keys, first one kept, order kept. */
export function uniqueBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const t of items) {
    if (seen.has(key(t))) continue;
    seen.add(key(t));
    out.push(t);
  }
  return out;
}

function hexOf(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return digest.slice("sha256:".length);
}

interface TarMember {
  offset: number;
  size: number;
  type: string;
}

/** Index a plain tar: member name → where its bytes are. Understands ustar, pax and GNU long names. */
export async function indexTar(path: string): Promise<Map<string, TarMember>> {
  const fh = await open(path, "r");
  const bad = (why: string) =>
    new KilnError(
      "KILN_EARCHIVE_INVALID",
      `Cannot read ${q(path)} as a tar archive: ${why}`,
      "Give an oci-archive tar made by `kiln image oci` or `skopeo copy ... oci-archive:FILE`.",
    );
  try {
    const { size: total } = await fh.stat();
    const out = new Map<string, TarMember>();
    const head = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    let paxSize: number | undefined;
    while (pos + 512 <= total) {
      await fh.read(head, 0, 512, pos);
      if (head.every((b) => b === 0)) break;
      const str = (a: number, b: number) => {
        const s = head.toString("utf8", a, b);
        const nul = s.indexOf("\0");
        return nul < 0 ? s : s.slice(0, nul);
      };
      const sizeField = head.subarray(124, 136);
      let size: number;
      if ((sizeField[0]! & 0x80) !== 0) {
        size = Number(sizeField.readBigUInt64BE(4));
      } else {
        const t = str(124, 136).trim();
        if (t && !/^[0-7]+$/.test(t)) throw bad(`bad size field at offset ${pos}`);
        size = t ? Number.parseInt(t, 8) : 0;
      }
      const type = String.fromCharCode(head[156] || 0x30);
      const dataAt = pos + 512;
      if (dataAt + size > total) throw bad(`member at offset ${pos} runs past the end (truncated?)`);
      const next = dataAt + Math.ceil(size / 512) * 512;
      if (type === "L") {
        const b = Buffer.alloc(size);
        await fh.read(b, 0, size, dataAt);
        longName = b.toString("utf8").replace(/\0+$/, "");
      } else if (type === "x") {
        const b = Buffer.alloc(size);
        await fh.read(b, 0, size, dataAt);
        for (const [k, v] of parsePax(b.toString("utf8"))) {
          if (k === "path") paxPath = v;
          if (k === "size") paxSize = Number(v);
        }
      } else if (type === "g") {
        // global pax header: nothing kiln needs
      } else {
        const prefix = head.toString("utf8", 257, 263).startsWith("ustar") ? str(345, 500) : "";
        let name = paxPath ?? longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
        name = name.replace(/^\.\//, "").replace(/\/$/, "");
        const realSize = paxSize ?? size;
        out.set(name, { offset: dataAt, size: realSize, type });
        longName = paxPath = undefined;
        paxSize = undefined;
        pos = dataAt + Math.ceil(realSize / 512) * 512;
        continue;
      }
      pos = next;
    }
    return out;
  } finally {
    await fh.close();
  }
}

function parsePax(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = Number(text.slice(i, sp));
    if (!Number.isInteger(len) || len <= 0) break;
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf("=");
    if (eq > 0) out.push([rec.slice(0, eq), rec.slice(eq + 1)]);
    i += len;
  }
  return out;
}

async function readRange(path: string, offset: number, size: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const b = Buffer.alloc(size);
    const { bytesRead } = await fh.read(b, 0, size, offset);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function hashRange(path: string, offset: number, size: number): Promise<string> {
  const { createHash } = await import("node:crypto");
  const { createReadStream } = await import("node:fs");
  const h = createHash("sha256");
  if (size > 0)
    for await (const c of createReadStream(path, { start: offset, end: offset + size - 1 }))
      h.update(c as Buffer);
  return `sha256:${h.digest("hex")}`;
}

/**
 * Read an oci-archive: the manifest its index names (the one tagged `refName`, or the only one), checked
 * against its digest, and every blob it needs as a range of the archive, with sizes checked.
 * Blob digests are checked by whoever consumes them (the registry on push, pull before use).
 */
export async function readOciArchive(path: string, refName?: string): Promise<OciArtifact> {
  const idx = await indexTar(path);
  const invalid = (why: string) =>
    new KilnError(
      "KILN_EOCI_INVALID",
      `Cannot use OCI archive ${q(path)}: ${why}`,
      "Give an oci-archive made by `kiln image oci|containerdisk` (or skopeo).",
    );
  const member = async (name: string, max = 4 * 1024 * 1024) => {
    const m = idx.get(name);
    if (!m) throw invalid(`it has no ${q(name)}`);
    if (m.size > max) throw invalid(`${q(name)} is ${m.size} bytes, more than a manifest may be`);
    return readRange(path, m.offset, m.size);
  };
  const layout = JSON.parse((await member("oci-layout")).toString("utf8")) as { imageLayoutVersion?: string };
  if (layout.imageLayoutVersion !== "1.0.0")
    throw invalid(`oci-layout says version ${q(layout.imageLayoutVersion)}`);
  let index: ImageIndex;
  try {
    index = JSON.parse((await member("index.json")).toString("utf8")) as ImageIndex;
  } catch (e) {
    if (e instanceof KilnError) throw e;
    throw invalid("index.json is not JSON");
  }
  const candidates = (index.manifests ?? []).filter(
    (d) => !refName || d.annotations?.[ANNOTATION.refName] === refName,
  );
  if (candidates.length !== 1) {
    const names = (index.manifests ?? []).map((d) => d.annotations?.[ANNOTATION.refName] ?? d.digest);
    throw invalid(
      refName
        ? `its index has ${candidates.length === 0 ? "no" : "several"} manifests named ${q(refName)} (it has ${names.join(", ") || "none"})`
        : `its index names ${candidates.length} manifests (${names.join(", ")}); say which with NAME`,
    );
  }
  const desc = candidates[0]!;
  if (isIndexMediaType(desc.mediaType))
    throw invalid("its index points to another index, which kiln does not follow");
  const blobAt = (d: Descriptor): BlobSource => {
    const m = idx.get(`blobs/sha256/${hexOf(d.digest)}`);
    if (!m) throw invalid(`blob ${q(d.digest)} is missing`);
    if (m.size !== d.size)
      throw invalid(`blob ${q(d.digest)} is ${m.size} bytes, its descriptor says ${d.size}`);
    return { digest: d.digest, size: d.size, mediaType: d.mediaType, path, offset: m.offset };
  };
  const mblob = blobAt(desc);
  const bytes = await readRange(path, mblob.offset!, mblob.size);
  const actual = `sha256:${sha256(bytes)}`;
  if (actual !== desc.digest) {
    throw new KilnError(
      "KILN_EDIGEST",
      `Digest of the manifest in ${q(path)} is ${q(actual)}, index.json says ${q(desc.digest)}`,
      "The archive was changed or damaged; make it again.",
      { details: { expected: desc.digest, actual } },
    );
  }
  let manifest: ImageManifest;
  try {
    manifest = JSON.parse(bytes.toString("utf8")) as ImageManifest;
  } catch {
    throw invalid("its manifest is not JSON");
  }
  if (!manifest.config || !Array.isArray(manifest.layers))
    throw invalid("its manifest has no config or layers");
  const blobs = uniqueBy([manifest.config, ...manifest.layers], (d) => d.digest).map(blobAt);
  return {
    manifest: bytes,
    digest: desc.digest,
    mediaType: manifest.mediaType ?? desc.mediaType,
    ...(desc.platform ? { platform: desc.platform } : {}),
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    blobs,
  };
}

/** The platform kiln images declare (KraftKit-style: kernel release as os.version, components as features). */
export function kilnPlatform(image: Image): Platform {
  const features = [...new Set(image.manifest.components.map((c) => c.name))].sort();
  return {
    architecture: "amd64",
    os: "linux",
    "os.version": image.manifest.kernel.release,
    ...(features.length ? { "os.features": features } : {}),
  };
}
