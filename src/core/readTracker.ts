/**
 * Which files a piece of work looked at, and what each of them was when it looked: the inputs of bake's
 * memo (src/bake/bakeMemo.ts). They are recorded, not listed by hand, so that a read added to bake one day
 * is an input without anyone having to remember to say so.
 *
 * While tracking, node:fs's reading calls (sync, callback and promise forms: read, stat, list, open for
 * reading, copy or link from) note their path before they run, with the path's identity at that moment.
 * child_process's calls note that a process ran: what it read is out of sight, so such work cannot be
 * reused. Writes are noted apart: what the work wrote is its own, not an input. Code that holds its own
 * copy of an fs function from before tracking began is not seen, so tracking starts before the work's
 * modules load.
 */
import childProcess from "node:child_process";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Identity, identityOf } from "./fileIdentity.js";

export interface Tracked {
  /** Absolute path → its identity when first looked at, in the order first looked at. */
  inputs: Map<string, Identity>;
  /** Absolute paths the work wrote, made, renamed or removed (its own outputs and caches). */
  wrote: Set<string>;
  /** The programs started while tracking (their argv[0]). */
  spawned: string[];
}

/**
 * The path arguments each call reads (r) and writes (w), by position. `open` reads or writes by its flags;
 * the sync and callback forms take the same arguments.
 */
const CALLS: Record<string, { r?: number[]; w?: number[] }> = {
  readFile: { r: [0] },
  stat: { r: [0] },
  lstat: { r: [0] },
  readdir: { r: [0] },
  open: { r: [0] },
  access: { r: [0] },
  exists: { r: [0] },
  realpath: { r: [0] },
  opendir: { r: [0] },
  readlink: { r: [0] },
  createReadStream: { r: [0] },
  copyFile: { r: [0], w: [1] },
  link: { r: [0], w: [1] },
  cp: { r: [0], w: [1] },
  writeFile: { w: [0] },
  appendFile: { w: [0] },
  createWriteStream: { w: [0] },
  mkdir: { w: [0] },
  rmdir: { w: [0] },
  rm: { w: [0] },
  unlink: { w: [0] },
  rename: { w: [0, 1] },
  symlink: { w: [1] },
  utimes: { w: [0] },
  lutimes: { w: [0] },
  chmod: { w: [0] },
  chown: { w: [0] },
  truncate: { w: [0] },
};
const SPAWNS = ["spawn", "spawnSync", "execFile", "execFileSync", "exec", "execSync", "fork"] as const;

/** Whether an open writes: flags other than "r"/"rs", or numeric flags with write access. */
function opensToWrite(flags: unknown): boolean {
  if (flags == null || typeof flags === "function" || flags === "r" || flags === "rs") return false;
  return typeof flags !== "number" || (flags & 3) !== fs.constants.O_RDONLY;
}

function pathOf(arg: unknown): string | undefined {
  if (typeof arg === "string") return resolve(arg);
  if (arg instanceof URL) return arg.protocol === "file:" ? fileURLToPath(arg) : undefined;
  if (Buffer.isBuffer(arg)) return resolve(arg.toString());
  return undefined;
}

let active: Tracked | undefined;

type Fn = (...args: unknown[]) => unknown;

function wrap(target: Record<string, unknown>, name: string, before: (args: unknown[]) => void): () => void {
  const orig = target[name] as Fn | undefined;
  if (typeof orig !== "function") return () => {};
  const wrapper = (...args: unknown[]) => {
    before(args);
    return orig.apply(target, args);
  };
  // realpathSync.native and the like stay reachable through the wrapper.
  const { prototype: _p, ...props } = Object.getOwnPropertyDescriptors(orig);
  Object.defineProperties(wrapper, props);
  target[name] = wrapper;
  return () => {
    target[name] = orig;
  };
}

/**
 * Start recording. Returns the function that stops and gives what was recorded. One tracking at a time:
 * the hooks are process-wide.
 */
export function trackReads(): () => Tracked {
  if (active) throw new Error("trackReads: already tracking");
  const tracked: Tracked = { inputs: new Map(), wrote: new Set(), spawned: [] };
  active = tracked;
  const note = (name: string) => {
    const { r = [], w = [] } = CALLS[name]!;
    return (args: unknown[]) => {
      const toWrite = name === "open" && opensToWrite(args[1]);
      for (const i of toWrite ? [] : r) {
        const path = pathOf(args[i]);
        if (path !== undefined && !tracked.inputs.has(path)) tracked.inputs.set(path, identityOf(path));
      }
      for (const i of toWrite ? [0] : w) {
        const path = pathOf(args[i]);
        if (path !== undefined) tracked.wrote.add(path);
      }
    };
  };
  const restore: (() => void)[] = [];
  // Each call in its forms: callback, sync and promise (wrap passes over a form that does not exist).
  for (const name of Object.keys(CALLS)) {
    restore.push(wrap(fs as unknown as Record<string, unknown>, name, note(name)));
    restore.push(wrap(fs as unknown as Record<string, unknown>, `${name}Sync`, note(name)));
    restore.push(wrap(fs.promises as unknown as Record<string, unknown>, name, note(name)));
  }
  for (const name of SPAWNS)
    restore.push(
      wrap(childProcess as unknown as Record<string, unknown>, name, (args) => {
        tracked.spawned.push(String(args[0]));
      }),
    );
  // ES modules' named imports of node:fs see the wrappers only once the builtins' exports are synced.
  syncBuiltinESMExports();
  return () => {
    if (active === tracked) {
      for (const r of restore) r();
      syncBuiltinESMExports();
      active = undefined;
    }
    return tracked;
  };
}
