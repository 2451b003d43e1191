/**
 * `kiln sbom`: an image's SBOM as SPDX 2.3 or CycloneDX 1.6 JSON (same image, same bytes).
 */

import { q, usageError } from "../core/errors.js";
import { readImage } from "../manifest/imageManifest.js";
import { type CollectOptions, collectParts, type ImageParts } from "./parts.js";

export const SBOM_FORMATS = ["spdx", "cyclonedx"] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

export function sbomFormat(value: string): SbomFormat {
  const v = value
    .toLowerCase()
    .replace(/^spdx-?2\.3$/, "spdx")
    .replace(/^(cdx|cyclonedx-?1\.6)$/, "cyclonedx");
  if (!(SBOM_FORMATS as readonly string[]).includes(v))
    throw usageError(
      "KILN_ESBOM_FORMAT",
      `Unknown SBOM format ${q(value)}`,
      "Use --format spdx (SPDX 2.3 JSON) or --format cyclonedx (CycloneDX 1.6 JSON).",
    );
  return v as SbomFormat;
}

/** The parts of the image in directory `dir` (see parts.ts). */
export async function imageParts(dir: string, opts: CollectOptions = {}): Promise<ImageParts> {
  return collectParts(await readImage(dir), opts);
}

export async function sbom(
  dir: string,
  format: SbomFormat,
  opts: CollectOptions = {},
): Promise<{ text: string; parts: ImageParts }> {
  const parts = await imageParts(dir, opts);
  if (format === "spdx") {
    const { spdxJson } = await import("./spdx.js");
    return { text: spdxJson(parts), parts };
  }
  const { cyclonedxJson } = await import("./cyclonedx.js");
  return { text: cyclonedxJson(parts), parts };
}
