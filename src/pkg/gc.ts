/**
 * `kiln gc`: remove store objects nothing refers to. References are the roots installs record
 * (KILN_HOME/pkg/roots, dropped when their project's kiln.lock is gone), what is installed in the prefix,
 * and the stock kernel `kiln components fetch` points at. Objects newer than the grace period stay too (an
 * operation of another kiln may be about to record them), and gc holds the lock installs take. Trees are
 * renamed aside before they are removed, so a reader never sees half a tree. What killed kilns left
 * anywhere in KILN_HOME (scratchName entries whose process is gone) goes too, whatever its age.
 */
import { lstat, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { kilnHome, paths } from "../core/paths.js";
import { isScratchName, scratchName, sweepScratch } from "../core/scratchName.js";
import { openStore } from "../core/store.js";
import { LOCKFILE } from "./lockfile.js";
import { pkgStateDir, readInstalled } from "./prefix.js";
import { dropRoot, readRoots } from "./roots.js";

export interface GcOptions {
  env?: NodeJS.ProcessEnv;
  /** Keep objects modified less than this many milliseconds ago (default 15 minutes). */
  graceMs?: number;
  dryRun?: boolean;
}

export interface GcReport {
  removedBlobs: string[];
  removedTrees: string[];
  keptBlobs: number;
  keptTrees: number;
  bytesFreed: number;
  droppedRoots: string[];
  /** Scratch files and directories of kilns that were killed (paths). */
  removedScratch: string[];
  dryRun: boolean;
}

export async function collectGarbage(opts: GcOptions = {}): Promise<GcReport> {
  const env = opts.env ?? process.env;
  const store = openStore(env);
  const grace = opts.graceMs ?? 15 * 60_000;
  const now = Date.now();
  return store.withLock("pkg-prefix", async () => {
    const blobs = new Set<string>();
    const trees = new Set<string>();
    const dropped: string[] = [];
    for (const { file, root } of await readRoots(env)) {
      if (!(await stat(join(root.project, LOCKFILE)).catch(() => undefined))) {
        dropped.push(root.project);
        if (!opts.dryRun) await dropRoot(file);
        continue;
      }
      for (const b of root.blobs) blobs.add(b);
      for (const t of root.trees) trees.add(t);
    }
    for (const p of Object.values((await readInstalled(env)).packages)) blobs.add(p.artifact);
    try {
      const stock = JSON.parse(await readFile(join(paths.components(env), "stock.json"), "utf8")) as {
        sha256?: string;
      };
      if (stock.sha256) {
        blobs.add(stock.sha256);
        trees.add(stock.sha256);
      }
    } catch {}

    const young = async (p: string) => {
      const st = await lstat(p).catch(() => undefined);
      return st !== undefined && now - st.mtimeMs < grace;
    };
    const report: GcReport = {
      removedBlobs: [],
      removedTrees: [],
      keptBlobs: 0,
      keptTrees: 0,
      bytesFreed: 0,
      droppedRoots: dropped,
      removedScratch: [],
      dryRun: opts.dryRun === true,
    };
    const blobDir = join(store.root, "blobs", "sha256");
    for (const name of (await readdir(blobDir).catch(() => [] as string[])).sort()) {
      const p = join(blobDir, name);
      if (blobs.has(name) || (await young(p))) {
        report.keptBlobs++;
        continue;
      }
      report.bytesFreed += (await stat(p).catch(() => ({ size: 0 }))).size;
      report.removedBlobs.push(name);
      if (!opts.dryRun) await rm(p, { force: true });
    }
    const treeDir = join(store.root, "trees");
    for (const key of (await readdir(treeDir).catch(() => [] as string[])).sort()) {
      if (key.startsWith(".")) continue;
      const p = join(treeDir, key);
      if (trees.has(key) || (await young(join(p, "tree.json")))) {
        report.keptTrees++;
        continue;
      }
      report.bytesFreed += await du(p);
      report.removedTrees.push(key);
      if (!opts.dryRun) {
        const aside = join(treeDir, scratchName(`.gc-${key}`));
        await rename(p, aside);
        await rm(aside, { recursive: true, force: true });
      }
    }
    report.removedScratch = await sweepHome(kilnHome(env), treeDir, opts.dryRun === true);
    if (!opts.dryRun) {
      // Scratch in the store's tmp/ named otherwise, and build records whose artifact is gone.
      const tmp = join(store.root, "tmp");
      for (const n of await readdir(tmp).catch(() => [] as string[])) {
        if (!isScratchName(n) && !(await young(join(tmp, n))))
          await rm(join(tmp, n), { recursive: true, force: true });
      }
      const builds = join(pkgStateDir(env), "builds");
      for (const n of await readdir(builds).catch(() => [] as string[])) {
        try {
          const r = JSON.parse(await readFile(join(builds, n), "utf8")) as { sha256: string };
          if (!(await store.has(r.sha256))) await rm(join(builds, n), { force: true });
        } catch {}
      }
    }
    return report;
  });
}

/**
 * Sweep `dir` and every directory below it, except the contents of stored trees (`trees`: not kiln's
 * names, and immutable) and scratch directories still in use.
 */
async function sweepHome(dir: string, trees: string, dryRun: boolean): Promise<string[]> {
  const removed = await sweepScratch(dir, { dryRun });
  if (dir === trees) return removed;
  for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (d.isDirectory() && !isScratchName(d.name))
      removed.push(...(await sweepHome(join(dir, d.name), trees, dryRun)));
  }
  return removed;
}

async function du(p: string): Promise<number> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(p)) n += await du(join(p, e));
  return n;
}
