/**
 * kiln's package prefix (KILN_HOME/prefix, the one the toolchain's pkg-config and the builds see) and the
 * record of what is installed in it (KILN_HOME/pkg/installed.json): per package its version, its artifact
 * digest and its files, so that another version replaces exactly those files, and `kiln gc` knows which
 * blobs are in use. Kept free of heavy imports: the fast path of `kiln pkg install` reads it.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { kilnHome } from "../core/paths.js";

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

export const installedFile = (env?: NodeJS.ProcessEnv) => join(pkgStateDir(env), "installed.json");

export async function readInstalled(env?: NodeJS.ProcessEnv): Promise<InstalledState> {
  try {
    const s = JSON.parse(await readFile(installedFile(env), "utf8")) as InstalledState;
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
  const present = await Promise.all(
    p.files.map((f) =>
      stat(join(prefix, f)).then(
        () => true,
        () => false,
      ),
    ),
  );
  return present.every(Boolean);
}
