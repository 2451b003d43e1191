/**
 * How this kiln process started: from kiln's startup snapshot (bin/kiln, when scripts/snapshot.mjs built one
 * for this tree and this node) or from its ES modules. `kiln doctor` reports it, with what to do when a
 * snapshot could have been used and was not.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export interface Startup {
  from: "snapshot" | "modules";
  /** The blob, relative to kiln's root, when started from it. */
  snapshot?: string;
  /** Why not from the snapshot, and what to do. */
  why?: string;
  hint?: string;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The blob's name for a node binary: its inode, size and change time, which bin/kiln reads with
 * `stat -L -c %i-%s-%Z`. A snapshot only loads in the node that built it, and a node upgraded in place
 * changes at least the change time.
 */
export function snapshotName(node: string): string {
  const s = statSync(node);
  return `kiln-${s.ino}-${s.size}-${Math.floor(s.ctimeMs / 1000)}.blob`;
}

export function startup(env: NodeJS.ProcessEnv = process.env): Startup {
  const i = process.execArgv.indexOf("--snapshot-blob");
  const blob = i >= 0 ? process.execArgv[i + 1] : undefined;
  if (blob) return { from: "snapshot", snapshot: relative(ROOT, blob) };
  const build = "run `npm run build` in kiln's directory";
  const dir = join(ROOT, "dist", "snapshot");
  if (!existsSync(dir))
    return { from: "modules", why: "no startup snapshot has been built", hint: `${build} (~1 s)` };
  if (statSync(dir).mtimeMs < statSync(join(ROOT, "dist", "cli", "main.js")).mtimeMs)
    return { from: "modules", why: "the startup snapshot is older than kiln's modules", hint: build };
  if (!existsSync(join(dir, snapshotName(process.execPath))))
    return {
      from: "modules",
      why: `the startup snapshot was built by another node than ${process.execPath}`,
      hint: build,
    };
  if (env.NODE_OPTIONS)
    return {
      from: "modules",
      why: "NODE_OPTIONS is set (a snapshot cannot start with other V8 flags)",
      hint: "unset NODE_OPTIONS",
    };
  return {
    from: "modules",
    why: "started as `node bin/kiln.js`",
    hint: "run bin/kiln (what npm installs as `kiln`), which starts from the snapshot",
  };
}
