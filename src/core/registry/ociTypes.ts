/**
 * The OCI image-spec v1.1 data model as kiln reads and writes it: descriptors, image manifests and
 * indexes, with their media types. Docker's v2 media types are listed because registries answer with them.
 */
export const MEDIA = {
  manifest: "application/vnd.oci.image.manifest.v1+json",
  index: "application/vnd.oci.image.index.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layerTar: "application/vnd.oci.image.layer.v1.tar",
  layerTarGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  empty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

/** What a GET of a manifest accepts: both OCI and Docker's, single and multi-platform. */
export const MANIFEST_ACCEPT = [MEDIA.manifest, MEDIA.index, MEDIA.dockerManifest, MEDIA.dockerList] as const;

export const ANNOTATION = {
  title: "org.opencontainers.image.title",
  version: "org.opencontainers.image.version",
  created: "org.opencontainers.image.created",
  description: "org.opencontainers.image.description",
  licenses: "org.opencontainers.image.licenses",
  refName: "org.opencontainers.image.ref.name",
} as const;

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export function isIndexMediaType(t: string): boolean {
  return t === MEDIA.index || t === MEDIA.dockerList;
}

export function isManifestMediaType(t: string): boolean {
  return t === MEDIA.manifest || t === MEDIA.dockerManifest;
}

/** `sha256:<64 hex>`, the only digest algorithm kiln writes or accepts. */
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
