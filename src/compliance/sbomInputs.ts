/**
 * The facts an SBOM needs that the image's bytes do not carry: which Debian packages (and versions, source
 * packages, copyright files) the kernel, libc and libraries came from, and licences of files kiln did not
 * make. Proposed as `manifest.sbom` (versioned: v is 1): bake records it from the host it bakes on, so that
 * `kiln sbom` and `kiln audit` give the same answer on any machine later. Until bake writes it, compliance
 * derives the same shape from the manifest and this host (`gatherSbomInputs`).
 */
import { z } from "zod";
import type { ImageManifest } from "../bake/image.js";
import { KilnError, q } from "../core/errors.js";
import { type DebianFacts, hostDebianFacts } from "./debianFacts.js";

const DebPackageFacts = z
  .object({
    version: z.string().min(1),
    source: z.string().min(1).optional(),
    sourceVersion: z.string().min(1).optional(),
    copyright: z.string().optional(),
    copyrightFile: z.string().optional(),
  })
  .strict();

const FileFacts = z
  .object({
    /** The Debian package the file comes from (a key of `debian.packages`). */
    debPackage: z.string().min(1).optional(),
    name: z.string().min(1).optional(),
    version: z.string().min(1).optional(),
    /** SPDX expression. */
    license: z.string().min(1).optional(),
    supplier: z.string().min(1).optional(),
    purl: z.string().startsWith("pkg:").optional(),
  })
  .strict();

export const SbomInputs = z
  .object({
    v: z.literal(1),
    debian: z
      .object({
        release: z.string().min(1),
        arch: z.string().min(1),
        packages: z.record(z.string(), DebPackageFacts),
      })
      .strict()
      .optional(),
    /** By absolute path in the initrd. */
    files: z.record(z.string().startsWith("/"), FileFacts).optional(),
    /** Seconds since 1970 (SOURCE_DATE_EPOCH at bake time): the SBOMs' creation time. Default 0. */
    created: z.number().int().min(0).optional(),
  })
  .strict();
export type SbomInputs = z.infer<typeof SbomInputs>;
export type FileFacts = z.infer<typeof FileFacts>;

/** The package that holds musl's static library, which every program and kiln-init link in. */
export const MUSL_PACKAGE = "musl-dev";

/** manifest.sbom, checked; undefined when the image predates it. */
export function recordedSbomInputs(manifest: ImageManifest, dir = "image"): SbomInputs | undefined {
  const raw = (manifest as ImageManifest & { sbom?: unknown }).sbom;
  if (raw === undefined) return undefined;
  const r = SbomInputs.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new KilnError(
      "KILN_EIMAGE_INVALID",
      `Image ${q(dir)} has an invalid manifest.sbom: key ${q(issue.path.join(".") || "(top)")}: ${issue.message}`,
      "Bake the image again with this kiln.",
    );
  }
  return r.data;
}

/**
 * Gather SBOM inputs on this host: what bake should record (and what compliance uses for images without
 * `manifest.sbom`). The kernel package is normally not installed on the host, so its facts come from the
 * manifest, and its copyright file from `kernelCopyright` (the unpacked package's, when the caller has it).
 */
export async function gatherSbomInputs(
  manifest: ImageManifest,
  opts: { env?: NodeJS.ProcessEnv; kernelCopyright?: string; sourceDateEpoch?: number } = {},
): Promise<SbomInputs> {
  const host = await hostDebianFacts([MUSL_PACKAGE], opts.env);
  const debian: DebianFacts = { release: host.release, arch: host.arch, packages: { ...host.packages } };
  const k = manifest.kernel;
  if (k.package && k.version) {
    debian.packages[k.package] = {
      version: k.version,
      source: "linux",
      ...(opts.kernelCopyright ? { copyright: opts.kernelCopyright } : {}),
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
