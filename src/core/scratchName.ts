/**
 * Names for scratch files and directories that say which process made them, so that whoever comes next
 * (the next write of the same output, `kiln gc`) can remove what a killed kiln left, and only that:
 *
 *   <stem>.tmp-<pid>-<start>-<boot>-<random>[.old]
 *
 * `start` is the process's start time (field 22 of /proc/PID/stat, clock ticks since boot) and `boot` the
 * first 8 hex digits of the kernel's boot id: a pid alone is reused, a pid with its start time within one
 * boot is not. KILN_HOME is per host: another host's boot id reads as a process that is gone.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

interface Owner {
  pid: number;
  /** Absent in names written before start times were recorded (`<stem>.tmp-<pid>-<random>`). */
  start?: string;
  boot?: string;
}

let self: { start: string; boot: string } | null | undefined;

/** This process's start time and boot id, or null where /proc does not give them. */
function selfOwner(): { start: string; boot: string } | null {
  if (self === undefined) {
    try {
      const start = procStart("self");
      const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8);
      self = start && /^[0-9a-f]{8}$/.test(boot) ? { start, boot } : null;
    } catch {
      self = null;
    }
  }
  return self;
}

/** Field 22 of /proc/PID/stat; the fields after the command name, which may hold spaces and ')'. */
function procStart(pid: number | "self"): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/** A fresh scratch name for `stem` (a file name, or a path to make a path), owned by this process. */
export function scratchName(stem: string): string {
  const me = selfOwner();
  const tag = me ? `${process.pid}-${me.start}-${me.boot}` : `${process.pid}`;
  return `${stem}.tmp-${tag}-${randomBytes(4).toString("hex")}`;
}

// The legacy forms are what kiln wrote before start times were recorded.
const NAME = /^(.*)\.tmp-(\d+)-(\d+)-([0-9a-f]{8})-[0-9a-f]{8}(\.old)?$/;
const LEGACY = [
  /^(\..*)\.(?:tmp|kiln|part)-(\d+)-[0-9a-f]{8}(\.old)?$/,
  /^(\.blob|op)-(\d+)-[0-9a-f]{12}()$/,
];

function parse(name: string): { stem: string; owner: Owner; old: boolean } | undefined {
  const m = NAME.exec(name);
  if (m)
    return { stem: m[1]!, owner: { pid: Number(m[2]), start: m[3]!, boot: m[4]! }, old: m[5] !== undefined };
  for (const re of LEGACY) {
    const l = re.exec(name);
    if (l) return { stem: l[1]!, owner: { pid: Number(l[2]) }, old: Boolean(l[3]) };
  }
  return undefined;
}

function ownerAlive(o: Owner): boolean {
  const me = selfOwner();
  if (o.start !== undefined && me) {
    if (o.boot !== me.boot) return false;
    return procStart(o.pid) === o.start;
  }
  if (o.pid === process.pid) return true;
  try {
    process.kill(o.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** The name a scratch name stands in for (".out" for ".out.tmp-..."), or undefined for any other name. */
export function scratchStem(name: string): string | undefined {
  return parse(name)?.stem;
}

/** Whether `name` is a scratch name (whether or not its process still runs). */
export function isScratchName(name: string): boolean {
  return parse(name) !== undefined;
}

/**
 * Remove the scratch entries in `dir` whose process is gone (only those of `stem`, when given), and return
 * their paths. A `.old` entry is a replaced output that a killed kiln had moved aside: when nothing took
 * its place it is put back, since the replacement never arrived.
 */
export async function sweepScratch(
  dir: string,
  opts: { stem?: string; dryRun?: boolean } = {},
): Promise<string[]> {
  const { stem } = opts;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const p = parse(name);
    if (!p || (stem !== undefined && p.stem !== stem) || ownerAlive(p.owner)) continue;
    const path = join(dir, name);
    if (opts.dryRun) {
      removed.push(path);
      continue;
    }
    if (p.old && p.stem.startsWith(".")) {
      const original = join(dir, p.stem.slice(1));
      if (!(await stat(original).catch(() => undefined))) {
        await rename(path, original).catch(() => {});
        continue;
      }
    }
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  }
  return removed;
}

/**
 * A fresh scratch path beside `path` (same directory: one rename puts it in place), once the scratch
 * entries killed kilns left there for the same path are gone.
 */
export async function scratchBeside(path: string): Promise<string> {
  const stem = `.${basename(path)}`;
  await sweepScratch(dirname(path), { stem });
  return join(dirname(path), scratchName(stem));
}
