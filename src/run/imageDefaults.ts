import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { q, usageError } from "../core/errors.js";
import type { Image } from "../pkg/recipe.js";

/**
 * Image defaults a project directory carries in its kiln.toml `[image]` table, so that `kiln run DIR`
 * needs no flags: files to add (destination in the image → path relative to DIR), environment,
 * arguments, memory, ports. Command-line options win over these. The table is the recipe schema's
 * `[image]` (src/pkg/recipe.ts): one shape for projects and packages. Guest ports ("6379") or host:guest
 * forwards ("16379:6379") come out as strings; forwards apply when -p gives none.
 */
export type ImageDefaults = Image;

export async function readImageDefaults(dir: string): Promise<ImageDefaults | undefined> {
  const file = join(dir, "kiln.toml");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  const { parse, TomlError } = await import("smol-toml");
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : "";
    throw usageError(
      "KILN_ETOML_INVALID",
      `Cannot parse ${q(file)}${where}: ${(e as Error).message.split("\n")[0]}`,
      "Fix the TOML syntax.",
    );
  }
  if (doc.image === undefined) return undefined;
  // The recipe schema (zod, semver, SPDX) loads only for a project that has an [image] table.
  const { Image } = await import("../pkg/recipe.js");
  const r = Image.safeParse(doc.image);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw usageError(
      "KILN_ETOML_INVALID",
      `Cannot use ${q(file)}: key ${q(["image", ...issue.path].join("."))}: ${issue.message}`,
      "Keys of [image]: platform, program, memory, args, env, files, ports, net, sysctl, routes, firewall.",
    );
  }
  const { imageFiles } = await import("../pkg/imageFiles.js");
  const files = r.data.files
    ? Object.fromEntries((await imageFiles(dir, r.data.files, file)).map((f) => [f.dest, f.src]))
    : undefined;
  // The ruleset as a host path: bake and the run's cache key read it from there.
  const firewall = r.data.firewall ? join(dir, r.data.firewall) : undefined;
  return { ...r.data, ...(files ? { files } : {}), ...(firewall ? { firewall } : {}) };
}
