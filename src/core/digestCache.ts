/**
 * sha256 of a file, remembered by the file's identity so that checking an image before every launch does not
 * hash its 14 MB kernel each time. The key is (device, inode) and the entry holds size, mtime and ctime: a
 * write to the file changes its ctime (which no user can set back), so any change since the digest was taken
 * means hashing again. One small JSON file in the cache directory, loaded once per process and replaced
 * atomically; losing it (or a race between two kilns writing it) costs only a hash.
 *
 * The file is opened without following a symlink (O_NOFOLLOW) and identified by the open descriptor, so the
 * bytes hashed are those of the regular file the caller named, not of whatever a link points to.
 */
import { constants } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.js";
import { sha256Handle } from "./digest.js";
import { paths } from "./paths.js";

interface Entry {
  size: string;
  mtime: string;
  ctime: string;
  sha256: string;
  used: number;
}

// A bake checks a kernel and its modules, a launch an image's two parts: room for several kernels and images.
const KEEP = 512;
const loaded = new Map<string, Promise<Record<string, Entry>>>();

function cacheFile(env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "digests.json");
}

function load(file: string): Promise<Record<string, Entry>> {
  let p = loaded.get(file);
  if (!p) {
    p = readFile(file, "utf8")
      .then((t) => {
        const j = JSON.parse(t) as { v?: number; entries?: Record<string, Entry> };
        return j.v === 1 && j.entries ? j.entries : {};
      })
      .catch(() => ({}));
    loaded.set(file, p);
  }
  return p;
}

export interface FileDigest {
  sha256: string;
  size: number;
  /** Whether the digest came from the cache (the file was not read). */
  cached: boolean;
}

/**
 * The file's sha256 (from the cache when the file is unchanged). Throws the open's error (ELOOP for a
 * symlink, ENOENT for a missing file), or ENOTFILE for something that is not a regular file.
 */
export async function fileDigest(path: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<FileDigest> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat({ bigint: true });
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "ENOTFILE" });
    const file = cacheFile(opts.env);
    const entries = await load(file);
    const key = `${st.dev}:${st.ino}`;
    const e = entries[key];
    const size = String(st.size);
    const mtime = String(st.mtimeNs);
    const ctime = String(st.ctimeNs);
    if (e && e.size === size && e.mtime === mtime && e.ctime === ctime) {
      return { sha256: e.sha256, size: Number(st.size), cached: true };
    }
    const sha256 = await sha256Handle(fh);
    entries[key] = { size, mtime, ctime, sha256, used: Date.now() };
    await save(file, entries);
    return { sha256, size: Number(st.size), cached: false };
  } finally {
    await fh.close();
  }
}

/**
 * Record the digests of files kiln has just written from bytes whose digests it knows (bake's kernel, copied
 * from the store after checking it, and the initrd it hashed as it made it), so that the first launch of a
 * new image does not read them back. Any later change to a file changes its ctime, as for fileDigest.
 */
export async function rememberDigests(
  /** `ino`: only if the path still names that file (another kiln may have replaced it since). */
  files: readonly { path: string; sha256: string; ino?: bigint }[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const file = cacheFile(opts.env);
  const entries = await load(file);
  for (const f of files) {
    const fh = await open(f.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile() || (f.ino !== undefined && st.ino !== f.ino)) continue;
      entries[`${st.dev}:${st.ino}`] = {
        size: String(st.size),
        mtime: String(st.mtimeNs),
        ctime: String(st.ctimeNs),
        sha256: f.sha256,
        used: Date.now(),
      };
    } finally {
      await fh.close();
    }
  }
  await save(file, entries);
}

async function save(file: string, entries: Record<string, Entry>): Promise<void> {
  const kept = Object.entries(entries)
    .sort(([, a], [, b]) => b.used - a.used)
    .slice(0, KEEP);
  await writeFileAtomic(file, JSON.stringify({ v: 1, entries: Object.fromEntries(kept) })).catch(() => {});
}
