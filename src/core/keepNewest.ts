/**
 * Bounding a cache directory: keep its `keep` most recently used entries (the names ending in `suffix`)
 * and remove the others. "Used" is the mtime of the entry itself, or of a companion file (`usedBy`) where
 * marking the entry itself would move its ctime (a boot state's cached digest is keyed by it). An entry
 * whose time cannot be read counts as the oldest. Shared by the caches of direct kernels, boot states and
 * bake memos.
 */
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

export async function keepNewest(
  dir: string,
  opts: {
    suffix: string;
    keep: number;
    usedBy?: (path: string) => string;
    remove?: (path: string) => Promise<void>;
  },
): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(opts.suffix));
  if (names.length <= opts.keep) return;
  const usedBy = opts.usedBy ?? ((p: string) => p);
  const remove = opts.remove ?? ((p: string) => rm(p, { force: true }));
  const aged = await Promise.all(
    names.map(async (n) => ({
      path: join(dir, n),
      t: (await stat(usedBy(join(dir, n))).catch(() => undefined))?.mtimeMs ?? 0,
    })),
  );
  aged.sort((a, b) => b.t - a.t);
  await Promise.all(aged.slice(opts.keep).map((a) => remove(a.path)));
}
