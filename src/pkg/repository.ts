/**
 * Where packages come from. Four kinds behind one interface:
 *   - a directory of recipe folders (like kiln's packages/): each NAME/kiln.toml is a package, built here;
 *   - a published directory: index.json + blobs/sha256/<hex> (written by `kiln pkg publish DIR`);
 *   - the same layout over HTTP(S) (anything that serves files can host it; read-only);
 *   - an OCI registry (oci://HOST[:PORT]/NAMESPACE): each package a repository NAMESPACE/NAME, each version a
 *     tag, the recipe and the built artifact as layers with kiln's media types.
 */
import semver from "semver";
import type { Image, Provides } from "./recipe.js";
import type { Candidate, Resolver } from "./resolver.js";

export interface BlobRef {
  sha256: string;
  size: number;
}

/** One version of one package, as every repository kind describes it (index.json, OCI config). */
export interface PackageMeta {
  name: string;
  version: string;
  license: string;
  description?: string;
  dependencies: Record<string, string>;
  buildDependencies: Record<string, string>;
  provides?: Provides;
  image?: Omit<Image, "files">;
  /** The recipe's directory as a deterministic tar (kiln.toml, patches, local sources). */
  recipe: BlobRef;
  /** Digests of the recipe's sources (URL ones are fetched from their URL or a mirror when building). */
  sources: { url?: string; path?: string; sha256: string }[];
  /** The built files (the staged prefix as a tar), when the repository holds a build. */
  artifact?: BlobRef;
  /** Debian-sourced recipes: the Debian package they bring. */
  deb?: string;
}

/**
 * A Repository answers for packages by name; the resolver (resolver.ts) reads it through `versions`.
 *
 * Contract:
 * - `spec` is the repository as the user wrote it, and what kiln.lock records for packages from it.
 * - `versions`/`list` return metadata only (no recipe or artifact bytes), for every version of `name`; an
 *   unknown name gives []; failures to reach the repository are KilnErrors, never an empty answer.
 * - `fetchRecipe` and `fetchArtifact` return bytes only after checking them against the digest in the
 *   metadata: a blob whose digest differs is refused (KILN_EDIGEST) and nothing is kept. They put what they
 *   fetch in the content-addressed store, so a second fetch of the same digest costs nothing.
 * - `publish` adds one version (recipe, and artifact when given) and is atomic: readers see the version
 *   whole or not at all. Publishing the same name and version with other content is refused
 *   (KILN_EPUBLISH_EXISTS) unless `replace` is set. Read-only kinds leave `publish` undefined.
 */
export interface Repository extends Resolver {
  readonly spec: string;
  readonly kind: "recipes" | "dir" | "http" | "oci";
  list(name: string): Promise<PackageMeta[]>;
  /** The newest version of every package whose name or description contains `term` (all when empty). */
  search(term: string): Promise<PackageMeta[]>;
  /** A directory holding the recipe (kiln.toml and its files), verified. */
  fetchRecipe(meta: PackageMeta): Promise<string>;
  /** The artifact as a store blob path, verified; undefined when the repository has no build. */
  fetchArtifact(meta: PackageMeta): Promise<string | undefined>;
  publish?(pkg: Publishable, opts?: { replace?: boolean }): Promise<PublishResult>;
}

export interface Publishable {
  meta: PackageMeta;
  /** Store blob paths of the recipe archive and the artifact. */
  recipePath: string;
  artifactPath?: string;
}

export interface PublishResult {
  repository: string;
  name: string;
  version: string;
  recipe: string;
  artifact?: string;
  /** OCI: the manifest digest; directories: the index digest after the change. */
  digest: string;
  /** False when the same version with the same content was there already. */
  changed: boolean;
}

/** What the resolver needs from the metadata: run-time and build-time ranges, both holding. */
export function candidateOf(meta: PackageMeta): Candidate {
  const deps: Record<string, string> = { ...meta.dependencies };
  for (const [n, r] of Object.entries(meta.buildDependencies)) deps[n] = deps[n] ? andRanges(deps[n], r) : r;
  return { version: meta.version, dependencies: deps };
}

/** The range both `a` and `b` describe (semver has no parentheses: distribute the ORs). */
export function andRanges(a: string, b: string): string {
  if (a === b) return a;
  const x = new semver.Range(a).set;
  const y = new semver.Range(b).set;
  const parts: string[] = [];
  for (const p of x) for (const r of y) parts.push([...p, ...r].map((c) => c.value || "*").join(" "));
  return [...new Set(parts)].join(" || ");
}

/** Sort metadata newest first; keep one entry per version. */
export function newestFirst(list: readonly PackageMeta[]): PackageMeta[] {
  const seen = new Set<string>();
  return [...list]
    .sort((a, b) => semver.rcompare(a.version, b.version))
    .filter((m) => {
      if (seen.has(m.version)) return false;
      seen.add(m.version);
      return true;
    });
}
