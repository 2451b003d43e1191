/**
 * `kiln pkg search` and `kiln pkg info`: what repositories offer, as data for the CLI to render.
 */
import semver from "semver";
import { q, usageError } from "../core/errors.js";
import type { RegistryTimeouts } from "../core/registry/timeouts.js";
import { openStore } from "../core/store.js";
import { parseNameRange } from "./addDependency.js";
import { loadToml } from "./loadRecipe.js";
import { openRepository, RepositorySet } from "./openRepository.js";
import type { PackageMeta, Repository } from "./repository.js";

export interface QueryOptions {
  repos?: readonly string[];
  /** A project directory whose kiln.toml names repositories (default: the current directory, if any). */
  dir?: string;
  env?: NodeJS.ProcessEnv;
  insecure?: boolean;
  /** Time limits for OCI registries (src/core/registry/timeouts.ts). */
  timeouts?: Partial<RegistryTimeouts>;
}

async function repositories(opts: QueryOptions): Promise<Repository[]> {
  const store = openStore(opts.env);
  const dir = opts.dir ?? process.cwd();
  const project = await loadToml(dir).catch(() => undefined);
  const specs = [
    ...(opts.repos ?? []).map((s) => ({ s, base: process.cwd() })),
    ...(project?.toml.repositories ?? []).map((s) => ({ s, base: project!.dir })),
  ];
  if (specs.length === 0) {
    throw usageError(
      "KILN_EREPO_NONE",
      "No repository to ask",
      "Pass --repo DIR|URL|oci://HOST/NAMESPACE, or run in a project whose kiln.toml has repositories = [...].",
    );
  }
  return Promise.all(
    specs.map(({ s, base }) =>
      openRepository(s, store, {
        base,
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.insecure ? { insecure: true } : {}),
        ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      }),
    ),
  );
}

export interface SearchHit {
  name: string;
  version: string;
  description?: string;
  license: string;
  repository: string;
  prebuilt: boolean;
}

export async function searchPackages(term: string, opts: QueryOptions = {}): Promise<SearchHit[]> {
  const seen = new Set<string>();
  const out: SearchHit[] = [];
  for (const repo of await repositories(opts)) {
    for (const m of await repo.search(term)) {
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      out.push({
        name: m.name,
        version: m.version,
        license: m.license,
        ...(m.description ? { description: m.description } : {}),
        repository: repo.spec,
        prebuilt: m.artifact !== undefined,
      });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface PackageInfo {
  name: string;
  range: string;
  /** Newest first; each with the repository it comes from. */
  versions: (PackageMeta & { repository: string; matches: boolean })[];
}

export async function packageInfo(spec: string, opts: QueryOptions = {}): Promise<PackageInfo> {
  const { name, range } = parseNameRange(spec);
  const set = new RepositorySet(await repositories(opts));
  const list = await set.listWithSource(name);
  if (list.length === 0) {
    throw usageError(
      "KILN_EPKG_UNKNOWN",
      `No repository has a package named ${q(name)}`,
      "Look for it with `kiln pkg search TERM`.",
    );
  }
  return {
    name,
    range,
    versions: list
      .map(({ meta, repo }) => ({
        ...meta,
        repository: repo.spec,
        matches: semver.satisfies(meta.version, range),
      }))
      .sort((a, b) => semver.rcompare(a.version, b.version)),
  };
}
