/**
 * The static repository layout, shared by directories and HTTP(S) servers:
 *
 *   index.json              {"kiln-repository": 1, "packages": {"NAME": [PackageMeta, ...]}}
 *   blobs/sha256/<hex>      recipe archives and built artifacts, named by their digest
 *
 * Anything that serves files can host it. The index is written sorted (names, then versions newest first)
 * so that publishing the same packages gives the same bytes.
 */
import semver from "semver";
import { z } from "zod";
import { q, usageError } from "../core/errors.js";
import type { PackageMeta } from "./repository.js";

export const INDEX_FILE = "index.json";
const HEX64 = /^[0-9a-f]{64}$/;

const Blob = z.object({ sha256: z.string().regex(HEX64), size: z.number().int().nonnegative() });
const Meta = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  version: z.string().refine((v) => semver.valid(v) === v, "not a semver version"),
  license: z.string(),
  description: z.string().optional(),
  dependencies: z.record(z.string(), z.string()),
  buildDependencies: z.record(z.string(), z.string()),
  provides: z.record(z.string(), z.array(z.string())).optional(),
  image: z.record(z.string(), z.unknown()).optional(),
  recipe: Blob,
  sources: z.array(
    z.object({ url: z.string().optional(), path: z.string().optional(), sha256: z.string().regex(HEX64) }),
  ),
  artifact: Blob.optional(),
  deb: z.string().optional(),
});
const Index = z.object({
  "kiln-repository": z.literal(1),
  packages: z.record(z.string(), z.array(Meta)),
});

/** One version's metadata from an untrusted document (an OCI config blob); KILN_EREPO_INDEX if malformed. */
export function parseMeta(raw: unknown, where: string): PackageMeta {
  const r = Meta.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badIndex(where, `key ${q(i.path.map(String).join("."))}: ${i.message}`);
  }
  return r.data as PackageMeta;
}

export interface StaticIndex {
  packages: Map<string, PackageMeta[]>;
}

export function parseIndex(text: string, where: string): StaticIndex {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badIndex(where, (e as Error).message);
  }
  const r = Index.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badIndex(where, `key ${q(i.path.map(String).join("."))}: ${i.message}`);
  }
  const packages = new Map<string, PackageMeta[]>();
  for (const [name, list] of Object.entries(r.data.packages)) {
    for (const m of list) {
      if (m.name !== name) throw badIndex(where, `package ${q(m.name)} is listed under ${q(name)}`);
    }
    packages.set(name, list as PackageMeta[]);
  }
  return { packages };
}

export function renderIndex(index: StaticIndex): string {
  const packages: Record<string, PackageMeta[]> = {};
  for (const name of [...index.packages.keys()].sort()) {
    packages[name] = [...index.packages.get(name)!].sort((a, b) => semver.rcompare(a.version, b.version));
  }
  return `${JSON.stringify({ "kiln-repository": 1, packages }, null, 1)}\n`;
}

export function blobRel(sha256: string): string {
  return `blobs/sha256/${sha256}`;
}

export function searchIndex(index: StaticIndex, term: string): PackageMeta[] {
  const t = term.toLowerCase();
  const out: PackageMeta[] = [];
  for (const [name, list] of [...index.packages].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const newest = [...list].sort((a, b) => semver.rcompare(a.version, b.version))[0];
    if (!newest) continue;
    if (!t || name.includes(t) || (newest.description ?? "").toLowerCase().includes(t)) out.push(newest);
  }
  return out;
}

function badIndex(where: string, why: string) {
  return usageError(
    "KILN_EREPO_INDEX",
    `Cannot read the repository index ${q(where)}: ${why}`,
    "The repository is damaged or not a kiln repository; publish to it again with `kiln pkg publish`.",
  );
}
