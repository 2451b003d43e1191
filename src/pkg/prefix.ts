/**
 * Installing a package's artifact into kiln's prefix, replacing the files of the version installed before
 * (installedState.ts records which). Changes happen under the store's prefix lock, held by the caller; the
 * record is written atomically after each package.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { installArtifact } from "./artifact.js";
import { type InstalledState, installedFile, isInstalled, prefixDir } from "./installedState.js";

export type { InstalledPackage, InstalledState } from "./installedState.js";
export { isInstalled, pkgStateDir, prefixDir, readInstalled } from "./installedState.js";

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
      await writeFileAtomic(installedFile(env), `${JSON.stringify(state, null, 1)}\n`);
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
  await writeFileAtomic(installedFile(env), `${JSON.stringify(state, null, 1)}\n`);
  return true;
}
