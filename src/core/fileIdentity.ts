/**
 * What a file is, by its metadata alone: device, inode, size, mtime and ctime (and mode). Any write changes
 * the ctime, which no user can set back, so an unchanged identity means unchanged content: the digest
 * cache's rule, the output ledger's (src/core/outputPath.ts) and bake's memo's (src/bake/bakeMemo.ts).
 *
 * Synchronous: a stat alone, where each asynchronous call would cost a thread-pool round trip. The fs
 * functions are taken when this module loads, so that read tracking (src/core/readTracker.ts), which
 * wraps them and calls in here, neither sees nor records its own stats.
 */

import { createHash } from "node:crypto";
import fs, { type BigIntStats } from "node:fs";
import { join } from "node:path";

/** A path's identity, or why there is nothing at it. */
export type Identity = string;

const lstatSync = fs.lstatSync;
const statSync = fs.statSync;
const readdirSync = fs.readdirSync;

function one(s: BigIntStats): string {
  return `${s.mode}:${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/**
 * A path's identity. A symlink is itself and what it points to; a missing path is its error code, so that
 * one appearing is a change too.
 */
export function identityOf(path: string): Identity {
  let l: BigIntStats;
  try {
    l = lstatSync(path, { bigint: true });
  } catch (e) {
    return `missing:${(e as NodeJS.ErrnoException).code ?? "?"}`;
  }
  if (!l.isSymbolicLink()) return one(l);
  try {
    return `${one(l)}>${one(statSync(path, { bigint: true }))}`;
  } catch (e) {
    return `${one(l)}>missing:${(e as NodeJS.ErrnoException).code ?? "?"}`;
  }
}

/**
 * An identity without the ctimes: what work of our own may not change. Linking a file (a re-bake takes the
 * old image's kernel over by a hard link) moves its ctime, and must not read as someone else's write.
 */
export function contentIdentity(id: Identity): Identity {
  return id.replace(/:\d+(?=>|$)/g, "");
}

/**
 * The identity of a file or a whole tree: any change to any file in it (even the same bytes rewritten)
 * changes it. Throws when the path is not there.
 */
export function treeIdentity(abs: string): string {
  const h = createHash("sha256");
  const walk = (p: string, rel: string): void => {
    const s: BigIntStats = lstatSync(p, { bigint: true });
    h.update(`${rel}\0${s.mode}\0${s.dev}\0${s.ino}\0${s.size}\0${s.mtimeNs}\0${s.ctimeNs}\n`);
    if (s.isDirectory()) for (const n of readdirSync(p).sort()) walk(join(p, n), `${rel}/${n}`);
  };
  walk(abs, "");
  return h.digest("hex");
}
