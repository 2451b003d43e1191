/**
 * The fast path of `kiln pkg install`: when kiln.toml and kiln.lock are byte for byte what the last full
 * install of this project saw (digests kept in its gc root) and every locked artifact is still installed,
 * there is nothing to do. It reads two files, one record and stats the installed files: no TOML parser,
 * no schema, no repository, so a second install costs little more than starting kiln.
 */
import { readFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { sha256 } from "../core/digest.js";
import type { InstallReport } from "./install.js";
import { isInstalled, prefixDir, readInstalled } from "./installedState.js";
import { readRoot } from "./roots.js";

export async function fastInstall(
  dirOrFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<InstallReport | undefined> {
  const abs = resolve(dirOrFile);
  const dir = basename(abs) === "kiln.toml" ? dirname(abs) : abs;
  const [text, lock, root] = await Promise.all([
    readFile(join(dir, "kiln.toml")).catch(() => undefined),
    readFile(join(dir, "kiln.lock")).catch(() => undefined),
    readRoot(dir, env),
  ]);
  if (!text || !lock || !root?.packages || root.toml !== sha256(text) || root.lock !== sha256(lock))
    return undefined;
  const state = await readInstalled(env);
  const ok = await Promise.all(root.packages.map((p) => isInstalled(state, p.name, p.artifact, env)));
  if (!ok.every(Boolean)) return undefined;
  const prefix = prefixDir(env);
  return {
    project: dir,
    lockfile: join(dir, "kiln.lock"),
    prefix,
    upToDate: true,
    lockChanged: false,
    changes: [],
    packages: root.packages.map((p) => ({
      name: p.name,
      version: p.version,
      repository: p.repository,
      artifact: p.artifact,
      how: "store" as const,
      installed: false,
      programs: state.packages[p.name]!.files.filter((f) => f.startsWith("bin/")).map((f) => join(prefix, f)),
    })),
  };
}
