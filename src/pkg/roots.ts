/**
 * What `kiln gc` must keep: each install records the store objects its project uses (recipe archives,
 * sources, artifacts, Debian packages and their trees) in KILN_HOME/pkg/roots/<digest of the project
 * path>.json. A root whose project no longer has its kiln.lock is stale and is dropped by gc.
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { pkgStateDir } from "./installedState.js";

export interface Root {
  format: 1;
  /** The project directory (its kiln.lock keeps the root alive). */
  project: string;
  blobs: string[];
  trees: string[];
  /** For the fast path of the next install: digests of kiln.toml and kiln.lock as last installed, and what. */
  toml?: string;
  lock?: string;
  packages?: { name: string; version: string; repository: string; artifact: string }[];
}

const dir = (env?: NodeJS.ProcessEnv) => join(pkgStateDir(env), "roots");

export const rootFile = (project: string, env?: NodeJS.ProcessEnv) =>
  join(dir(env), `${sha256(project).slice(0, 32)}.json`);

export async function writeRoot(
  project: string,
  blobs: Iterable<string>,
  trees: Iterable<string>,
  env?: NodeJS.ProcessEnv,
  fast?: Pick<Root, "toml" | "lock" | "packages">,
): Promise<void> {
  const root: Root = {
    format: 1,
    project,
    blobs: [...new Set(blobs)].sort(),
    trees: [...new Set(trees)].sort(),
    ...fast,
  };
  await writeFileAtomic(rootFile(project, env), `${JSON.stringify(root, null, 1)}\n`);
}

/** One project's root, if recorded. */
export async function readRoot(project: string, env?: NodeJS.ProcessEnv): Promise<Root | undefined> {
  try {
    const r = JSON.parse(await readFile(rootFile(project, env), "utf8")) as Root;
    return r.format === 1 && r.project === project ? r : undefined;
  } catch {
    return undefined;
  }
}

export async function readRoots(env?: NodeJS.ProcessEnv): Promise<{ file: string; root: Root }[]> {
  const out: { file: string; root: Root }[] = [];
  for (const n of (await readdir(dir(env)).catch(() => [] as string[])).sort()) {
    if (!n.endsWith(".json")) continue;
    const file = join(dir(env), n);
    try {
      const root = JSON.parse(await readFile(file, "utf8")) as Root;
      if (root.format === 1) out.push({ file, root });
    } catch {}
  }
  return out;
}

export async function dropRoot(file: string): Promise<void> {
  await rm(file, { force: true });
}
