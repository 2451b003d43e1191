import { randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rename, rm, rmdir } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { KilnError, q } from "./errors.js";
import { scratchName } from "./scratchName.js";

export interface LockHandle {
  readonly path: string;
  release(): Promise<void>;
}

interface Owner {
  pid: number;
  host: string;
  token: string;
}

/**
 * A lock file made with O_EXCL that names its owner (pid, host). Another process waits for it; a lock whose
 * owner is a dead process on this host is stale and is broken. Holders must release in `finally`.
 */
export async function acquireLock(
  path: string,
  opts: {
    timeoutMs?: number;
    pollMs?: number;
    what?: string;
    /** Remove the lock's directory on release when no other lock is in it. */
    removeEmptyDir?: boolean;
  } = {},
): Promise<LockHandle> {
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const pollMs = opts.pollMs ?? 25;
  const me: Owner = { pid: process.pid, host: hostname(), token: randomBytes(8).toString("hex") };
  const started = Date.now();
  await mkdir(dirname(path), { recursive: true });
  let wait = pollMs;
  for (;;) {
    try {
      const fh = await open(path, "wx", 0o644);
      try {
        await fh.writeFile(`${JSON.stringify(me)}\n`);
      } finally {
        await fh.close();
      }
      return {
        path,
        release: async () => {
          // Remove only our own lock: a lock broken as stale (we were paused for long) may now be another's.
          const owner = await readOwner(path);
          if (owner?.token === me.token) await rm(path, { force: true });
          if (opts.removeEmptyDir) await rmdir(dirname(path)).catch(() => {});
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        // Its directory was removed by another process's release: make it again.
        await mkdir(dirname(path), { recursive: true });
        continue;
      }
      if (code !== "EEXIST") throw e;
    }
    const owner = await readOwner(path);
    if (owner && isStale(owner)) {
      await breakStale(path, owner);
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      throw new KilnError(
        "KILN_ESTORE_LOCKED",
        `Cannot lock ${q(opts.what ?? path)}: held by process ${owner ? `${owner.pid} on ${q(owner.host)}` : "unknown"} for over ${Math.round(timeoutMs / 1000)} s`,
        `Wait for the other kiln to finish; if none is running, remove ${q(path)}.`,
      );
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 500);
  }
}

/** Run `fn` while holding the lock at `path`. */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts?: Parameters<typeof acquireLock>[1],
): Promise<T> {
  const lock = await acquireLock(path, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    const o = JSON.parse(await readFile(path, "utf8")) as Owner;
    return typeof o.pid === "number" ? o : undefined;
  } catch {
    // Absent, or its owner is between open and write: treat as live for now.
    return undefined;
  }
}

function isStale(o: Owner): boolean {
  if (o.host !== hostname()) return false;
  try {
    process.kill(o.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Move the stale lock aside with one rename, so that two processes breaking it at once cannot both win; if
 * what we moved turns out to be a new live lock (taken between our read and the rename), put it back.
 */
async function breakStale(path: string, seen: Owner): Promise<void> {
  const aside = scratchName(`${path}.stale`);
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  const moved = await readOwner(aside);
  if (moved && moved.token !== seen.token) {
    try {
      await link(aside, path);
    } catch {}
  }
  await rm(aside, { force: true });
}
