/**
 * The facts an SBOM needs that the image's bytes do not carry: which Debian packages (and versions, source
 * packages, copyright files) the kernel, libc and libraries came from, and licences of files kiln did not
 * make. Proposed as `manifest.sbom` (versioned: v is 1): bake records it from the host it bakes on, so that
 * `kiln sbom` and `kiln audit` give the same answer on any machine later. Until bake writes it, compliance
 * derives the same shape from the manifest and this host (`gatherSbomInputs`).
 */

import { KilnError, q } from "../core/errors.js";
import type {
  DebianFacts,
  DebPackageFacts,
  FileFacts,
  ImageManifest,
  SbomInputs,
} from "../manifest/imageManifest.js";
import { cachedHostDebianFacts } from "./debianFacts.js";

// Checked by hand rather than with zod: this runs on every `kiln sbom` / `kiln audit`, and loading zod
// costs more than the whole check (the shape is small and flat).
type Check = (v: unknown, path: string) => string | undefined;
const str: Check = (v, p) =>
  typeof v === "string" && v !== "" ? undefined : `${p}: expected a non-empty string`;
const opt =
  (c: Check): Check =>
  (v, p) =>
    v === undefined ? undefined : c(v, p);
const obj =
  (fields: Record<string, Check>): Check =>
  (v, p) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return `${p || "(top)"}: expected an object`;
    for (const k of Object.keys(v)) if (!(k in fields)) return `${p ? `${p}.` : ""}${k}: unknown key`;
    for (const [k, c] of Object.entries(fields)) {
      const e = c((v as Record<string, unknown>)[k], p ? `${p}.${k}` : k);
      if (e) return e;
    }
    return undefined;
  };
const record =
  (c: Check, key: (k: string) => boolean = () => true): Check =>
  (v, p) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return `${p}: expected an object`;
    for (const [k, x] of Object.entries(v)) {
      if (!key(k)) return `${p}.${k}: bad key`;
      const e = c(x, `${p}.${k}`);
      if (e) return e;
    }
    return undefined;
  };

const checkPackage = obj({
  version: str,
  source: opt(str),
  sourceVersion: opt(str),
  copyright: opt((v, p) => (typeof v === "string" ? undefined : `${p}: expected a string`)),
  copyrightFile: opt(str),
});
const checkFile = obj({
  debPackage: opt(str),
  name: opt(str),
  version: opt(str),
  license: opt(str),
  supplier: opt(str),
  purl: opt((v, p) => (typeof v === "string" && v.startsWith("pkg:") ? undefined : `${p}: expected a purl`)),
});
const checkInputs = obj({
  v: (v, p) => (v === 1 ? undefined : `${p}: expected 1`),
  debian: opt(obj({ release: str, arch: str, packages: record(checkPackage) })),
  files: opt(record(checkFile, (k) => k.startsWith("/"))),
  created: opt((v, p) =>
    Number.isInteger(v) && (v as number) >= 0 ? undefined : `${p}: expected seconds since 1970`,
  ),
});

/** The problem with a value as SbomInputs ("key: what"), or undefined when it is valid. */
export function sbomInputsProblem(value: unknown): string | undefined {
  return checkInputs(value, "");
}

export type { DebPackageFacts, FileFacts, SbomInputs };

/** The package that holds musl's static library, which every program and kiln-init link in. */
export const MUSL_PACKAGE = "musl-dev";

/** manifest.sbom, checked; undefined when the image predates it. */
export function recordedSbomInputs(manifest: ImageManifest, dir = "image"): SbomInputs | undefined {
  const raw = (manifest as ImageManifest & { sbom?: unknown }).sbom;
  if (raw === undefined) return undefined;
  const problem = sbomInputsProblem(raw);
  if (problem) {
    throw new KilnError(
      "KILN_EIMAGE_INVALID",
      `Image ${q(dir)} has an invalid manifest.sbom: ${problem}`,
      "Bake the image again with this kiln.",
    );
  }
  return raw as SbomInputs;
}

/**
 * Gather SBOM inputs on this host: what bake should record (and what compliance uses for images without
 * `manifest.sbom`). The kernel package is normally not installed on the host, so its facts come from the
 * manifest, and its copyright file from `kernelCopyright` (the unpacked package's, when the caller has it);
 * likewise the hypervisor's package, when the image carries one (`hypervisorCopyright`).
 */
export async function gatherSbomInputs(
  manifest: ImageManifest,
  opts: {
    env?: NodeJS.ProcessEnv;
    kernelCopyright?: string;
    hypervisorCopyright?: string;
    sourceDateEpoch?: number;
  } = {},
): Promise<SbomInputs> {
  const host = await cachedHostDebianFacts([MUSL_PACKAGE], opts.env);
  const debian: DebianFacts = { release: host.release, arch: host.arch, packages: { ...host.packages } };
  const k = manifest.kernel;
  if (k.package && k.version) {
    debian.packages[k.package] = {
      version: k.version,
      source: "linux",
      ...(opts.kernelCopyright ? { copyright: opts.kernelCopyright } : {}),
    };
  }
  const h = manifest.hypervisor;
  if (h) {
    debian.packages[h.package] = {
      version: h.version,
      ...(h.source && h.source !== h.package ? { source: h.source } : {}),
      ...(opts.hypervisorCopyright ? { copyright: opts.hypervisorCopyright } : {}),
    };
  }
  const env = opts.env ?? process.env;
  const epoch = opts.sourceDateEpoch ?? (env.SOURCE_DATE_EPOCH ? Number(env.SOURCE_DATE_EPOCH) : undefined);
  return {
    v: 1,
    debian,
    ...(epoch !== undefined && Number.isInteger(epoch) && epoch >= 0 ? { created: epoch } : {}),
  };
}
