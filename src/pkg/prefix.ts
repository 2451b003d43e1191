/**
 * kiln's package prefix (KILN_HOME/prefix, the one the toolchain's pkg-config and the builds see) and the
 * record of what is installed in it (KILN_HOME/pkg/installed.json): per package its version, its artifact
 * digest and its files, so that another version replaces exactly those files, and `kiln gc` knows which
 * blobs are in use. Changes happen under one store lock; the record is written atomically after each
 * package.
 */
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { kilnHome } from "../core/paths.js";
import { installArtifact } from "./artifact.js";

export interface InstalledPackage {
  version: string;
  artifact: string;
  files: string[];
}

export interface InstalledState {
  format: 1;
  packages: Record<string, InstalledPackage>;
}

export function prefixDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kilnHome(env), "prefix");
}

export function pkgStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(kilnHome(env), "pkg");
}

const stateFile = (env?: NodeJS.ProcessEnv) => join(pkgStateDir(env), "installed.json");

export async function readInstalled(env?: NodeJS.ProcessEnv): Promise<InstalledState> {
  try {
    const s = JSON.parse(await readFile(stateFile(env), "utf8")) as InstalledState;
    if (s.format === 1 && s.packages) return s;
  } catch {}
  return { format: 1, packages: {} };
}

/** Is exactly this artifact installed, with all its files present? (Cheap: stats only.) */
export async function isInstalled(
  state: InstalledState,
  name: string,
  artifact: string,
  env?: NodeJS.ProcessEnv,
): Promise<boolean> {
  const p = state.packages[name];
  if (!p || p.artifact !== artifact) return false;
  const prefix = prefixDir(env);
  for (const f of p.files) if (!(await stat(join(prefix, f)).catch(() => undefined))) return false;
  return true;
}

/**
 * Install one package's artifact (a verified store blob) into the prefix, replacing the files of the
 * version installed before. The caller holds the prefix lock.
 */
export async function installPackage(
  state: InstalledState,
  pkg: { name: string; version: string; artifact: string; blobPath: string },
  env?: NodeJS.ProcessEnv,
): Promise<boolean> {
  if (await isInstalled(state, pkg.name, pkg.artifact, env)) {
    if (state.packages[pkg.name]!.version !== pkg.version) {
      state.packages[pkg.name]!.version = pkg.version;
      await writeFileAtomic(stateFile(env), `${JSON.stringify(state, null, 1)}\n`);
    }
    return false;
  }
  const prefix = prefixDir(env);
  const files = await installArtifact(pkg.blobPath, pkg.artifact, prefix);
  const old = state.packages[pkg.name];
  if (old) {
    const keep = new Set(files);
    for (const f of old.files) if (!keep.has(f)) await rm(join(prefix, f), { force: true });
  }
  state.packages[pkg.name] = { version: pkg.version, artifact: pkg.artifact, files };
  await writeFileAtomic(stateFile(env), `${JSON.stringify(state, null, 1)}\n`);
  return true;
}
