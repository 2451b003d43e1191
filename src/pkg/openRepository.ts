/**
 * A repository from how the user names it: oci://..., http(s)://..., or a directory (a published one when
 * it holds index.json, or an empty one to publish into; otherwise a directory of recipe folders).
 * Also the union of several repositories as one Resolver: the first that has a version wins.
 */
import { readdir, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { q, usageError } from "../core/errors.js";
import type { RegistryTimeouts } from "../core/registry/timeouts.js";
import type { Store } from "../core/store.js";
import { DirRepository } from "./dirRepository.js";
import { HttpRepository } from "./httpRepository.js";
import { OciRepository } from "./ociRepository.js";
import { RecipesRepository } from "./recipesRepository.js";
import { candidateOf, type PackageMeta, type Repository } from "./repository.js";
import type { Candidate, Resolver } from "./resolver.js";
import { INDEX_FILE } from "./staticIndex.js";

export interface OpenOptions {
  /** Relative directories are relative to this (the project's directory). */
  base?: string;
  env?: NodeJS.ProcessEnv;
  insecure?: boolean;
  /** Time limits for OCI registries (src/core/registry/timeouts.ts). */
  timeouts?: Partial<RegistryTimeouts>;
  /** Opening for publishing: a missing directory is a new published repository. */
  forPublish?: boolean;
}

export async function openRepository(
  spec: string,
  store: Store,
  opts: OpenOptions = {},
): Promise<Repository> {
  if (spec.startsWith("oci://")) return new OciRepository(spec, store, opts);
  if (/^https?:\/\//.test(spec)) return new HttpRepository(spec, store);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    throw usageError(
      "KILN_EREPO_SPEC",
      `Cannot use the repository ${q(spec)}: unknown scheme`,
      "A repository is a directory, an http(s):// URL, or oci://HOST[:PORT]/NAMESPACE.",
    );
  }
  const dir = isAbsolute(spec) ? spec : resolve(opts.base ?? process.cwd(), spec);
  const st = await stat(dir).catch(() => undefined);
  if (!st) {
    if (opts.forPublish) return new DirRepository(spec, dir, store);
    throw usageError(
      "KILN_EREPO_NOT_FOUND",
      `Cannot use the repository ${q(spec)}: no such directory (${q(dir)})`,
      "Check the path (relative paths are relative to the project's kiln.toml).",
    );
  }
  if (await stat(join(dir, INDEX_FILE)).catch(() => undefined)) return new DirRepository(spec, dir, store);
  const entries = await readdir(dir);
  if (entries.length === 0 && opts.forPublish) return new DirRepository(spec, dir, store);
  return new RecipesRepository(spec, dir, store);
}

/** Several repositories as one: for each name, versions from the first repository that has each version. */
export class RepositorySet implements Resolver {
  constructor(readonly repos: readonly Repository[]) {}

  async listWithSource(name: string): Promise<{ meta: PackageMeta; repo: Repository }[]> {
    const seen = new Set<string>();
    const out: { meta: PackageMeta; repo: Repository }[] = [];
    const answers = await Promise.all(this.repos.map((r) => r.list(name)));
    for (const [i, list] of answers.entries()) {
      for (const meta of list) {
        if (seen.has(meta.version)) continue;
        seen.add(meta.version);
        out.push({ meta, repo: this.repos[i]! });
      }
    }
    return out;
  }

  async versions(name: string): Promise<Candidate[]> {
    return (await this.listWithSource(name)).map((x) => candidateOf(x.meta));
  }
}
