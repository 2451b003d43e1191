/**
 * What `--add SRC:/DEST` (and a project's `[image] files`) put in an image. SRC itself is taken as named: a
 * symlink there is followed, since the user named it. A directory brings its tree as it is, and nothing
 * inside it is followed: regular files are read without following a link (O_NOFOLLOW), and a symlink stays a
 * symlink in the image when it resolves inside SRC, so no host file outside SRC is ever read. A link that
 * leads out of SRC (absolute, or climbing above it with "..", directly or through other links of the tree)
 * is refused and named: in the image it would point at whatever is there (kiln's own files included).
 */
import { constants } from "node:fs";
import { lstat, open, readdir, readlink, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import { q, usageError } from "../core/errors.js";
import { fsError, missingOr } from "../core/fsError.js";

export interface AddedFile {
  /** The host path it was read from (for messages). */
  src: string;
  /** Absolute path in the image. */
  dest: string;
  mode: number;
  /** A regular file's bytes. */
  data?: Buffer;
  /** A symlink's target (relative, inside the added tree). */
  symlink?: string;
  /** Its mtime in seconds (the image's timestamp is the newest input's). */
  mtime: number;
}

const MAX_LINKS = 40;

export async function readAdded(a: { src: string; dest: string }): Promise<AddedFile[]> {
  // A loop of links, or a file kiln may not read, is said as what it is (src/core/fsError.ts), not "missing".
  const st = await stat(a.src).catch((e) => {
    throw missingOr(e, a.src, "add", () =>
      usageError(
        "KILN_EADD_NOT_FOUND",
        `Cannot add ${q(a.src)}: no such file or directory`,
        "Check the SRC part of --add SRC:/DEST.",
      ),
    );
  });
  if (st.isFile())
    return [
      await regular(a.src, a.dest, true).catch((e) => {
        throw fsError(e, a.src, "add");
      }),
    ];
  if (!st.isDirectory()) throw notFile(a.src);
  const base = a.dest.replace(/\/+$/, "");
  const out: AddedFile[] = [];
  /** Relative path → symlink target, for resolving links through links. */
  const links = new Map<string, string>();
  const dirs = new Set<string>([""]);
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const l = await lstat(path);
      if (l.isSymbolicLink()) {
        const target = await readlink(path);
        links.set(r, target);
        out.push({
          src: path,
          dest: `${base}/${r}`,
          mode: 0o777,
          symlink: target,
          mtime: seconds(l.mtimeMs),
        });
      } else if (l.isDirectory()) {
        dirs.add(r);
        await walk(path, r);
      } else if (l.isFile()) out.push(await regular(path, `${base}/${r}`));
      else throw notFile(path);
    }
  };
  await walk(a.src, "").catch((e) => {
    throw fsError(e, undefined, "add");
  });
  for (const f of out) {
    if (f.symlink === undefined) continue;
    const rel = f.dest.slice(base.length + 1);
    if (leaves(rel, f.symlink, links, dirs))
      throw usageError(
        "KILN_EADD_SYMLINK",
        `Cannot add ${q(f.src)}: it is a symbolic link to ${q(f.symlink)}, which leads out of ${q(a.src)}`,
        "Make the link relative and inside the directory, or add its target with its own --add SRC:/DEST.",
      );
  }
  return out;
}

/** A regular file's entry; `follow`: SRC itself, which may be a link the user named. */
async function regular(src: string, dest: string, follow = false): Promise<AddedFile> {
  const fh = await open(src, constants.O_RDONLY | (follow ? 0 : constants.O_NOFOLLOW));
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notFile(src);
    return {
      src,
      dest,
      mode: st.mode & 0o111 ? 0o755 : 0o644,
      data: await fh.readFile(),
      mtime: seconds(st.mtimeMs),
    };
  } finally {
    await fh.close();
  }
}

function notFile(src: string) {
  return usageError(
    "KILN_EADD_NOT_FILE",
    `Cannot add ${q(src)}: it is neither a file nor a directory`,
    "Add regular files, directories and symlinks inside them.",
  );
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Whether the link at `rel` leads out of the tree, resolved the way the kernel will in the image: component
 * by component, through the tree's other links, so that `d -> .` and `e -> d/../x` is caught although
 * "d/../x" alone looks inside. A loop, or a name the tree does not have, stays inside (it resolves nowhere).
 */
function leaves(rel: string, target: string, links: Map<string, string>, dirs: Set<string>): boolean {
  if (target.startsWith("/")) return true;
  let cur = posix.dirname(rel) === "." ? [] : posix.dirname(rel).split("/");
  let rest = target.split("/");
  let hops = 0;
  while (rest.length) {
    const c = rest.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (cur.length === 0) return true;
      cur = cur.slice(0, -1);
      continue;
    }
    const next = [...cur, c].join("/");
    const to = links.get(next);
    if (to !== undefined) {
      if (to.startsWith("/")) return true;
      if (++hops > MAX_LINKS) return false;
      rest = [...to.split("/"), ...rest];
      continue;
    }
    if (!dirs.has(next) && rest.some((x) => x !== "" && x !== ".")) return false;
    cur = [...cur, c];
  }
  return false;
}
