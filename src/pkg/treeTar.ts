/**
 * A directory as deterministic tar entries (for src/core/tarWriter.ts): recipe archives, built artifacts,
 * test tarballs. Modes are normalised to 0755/0644 (owners, times and host paths never appear), entries are
 * sorted, and symlinks are kept only when they stay inside the tree.
 */
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { KilnError, q } from "../core/errors.js";
import type { TarEntry } from "../core/tarWriter.js";

export interface TreeTarOptions {
  /** Prepended to every name ("kz-1.0.0/"). */
  prefix?: string;
  /** Leave out a relative path (and what is under it) when this returns false. */
  keep?: (rel: string, isDir: boolean) => boolean;
  /** Label for errors. */
  label?: string;
}

export async function treeEntries(root: string, opts: TreeTarOptions = {}): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  const prefix = opts.prefix ?? "";
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(dir, name);
      const st = await lstat(abs);
      if (opts.keep && !opts.keep(r, st.isDirectory())) continue;
      if (st.isDirectory()) {
        out.push({ name: `${prefix}${r}`, type: "directory", mode: 0o755 });
        await walk(abs, r);
      } else if (st.isSymbolicLink()) {
        const to = await readlink(abs);
        const resolved = posix.normalize(posix.join(posix.dirname(r), to));
        if (to.startsWith("/") || resolved === ".." || resolved.startsWith("../")) {
          throw new KilnError(
            "KILN_EARCHIVE_UNSAFE",
            `Cannot pack ${q(opts.label ?? root)}: symlink ${q(r)} points outside the tree (${q(to)})`,
            "Make the link relative and inside the directory, or remove it.",
          );
        }
        out.push({ name: `${prefix}${r}`, type: "symlink", linkname: to });
      } else if (st.isFile()) {
        out.push({ name: `${prefix}${r}`, path: abs, size: st.size, mode: st.mode & 0o111 ? 0o755 : 0o644 });
      }
    }
  };
  await walk(root, "");
  return out;
}
