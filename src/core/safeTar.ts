/**
 * Extract a tar stream into a new directory, never writing outside it: names with `..` or a leading `/`,
 * symlinks whose target leaves the root (or is absolute), hardlinks to anything but a file already
 * extracted, and any entry that would be written through a symlink are refused with KILN_EARCHIVE_UNSAFE.
 * A root filesystem tree (a Debian package's files) asks for `escapingSymlinks: "rebase"` instead: its
 * absolute symlinks mean "from the root of the system being installed", so they are rewritten relative
 * to the tree rather than refused.
 * On any failure the target directory is removed: a bad archive leaves nothing behind.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, link, lstat, mkdir, rm, symlink, unlink } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { type Compression, decompress } from "./decompress.js";
import { isKilnError, KilnError, q } from "./errors.js";

export interface ExtractedFile {
  /** Path relative to the target, after `select` renamed it. */
  path: string;
  type: "file" | "symlink" | "hardlink";
  mode: number;
  size: number;
  sha256?: string;
  /** Symlinks: the target as written on disk; hardlinks: the path of the file linked to. */
  target?: string;
  /** Symlinks rewritten by `escapingSymlinks: "rebase"`: the target as the archive wrote it. */
  rebasedFrom?: string;
  /** Set when the archive held it compressed and it was written decompressed (see `inflate`). */
  inflated?: Compression;
}

export interface ExtractOptions {
  /** Label for messages (the archive's file name). */
  label: string;
  /**
   * Which entries to keep, and where: the relative destination path, or undefined to skip the entry.
   * Every entry's name is checked for safety whether kept or not.
   */
  select?: (path: string, type: "file" | "directory" | "symlink" | "hardlink") => string | undefined;
  /** Files to write decompressed (the suffix is dropped): return the compression, or undefined. */
  inflate?: (path: string) => Exclude<Compression, "none"> | undefined;
  /**
   * Symlinks that are absolute or climb above the root: "refuse" them (the default), or "rebase" them for
   * a root filesystem tree: every symlink is resolved against its own directory as the kernel would with
   * the tree as `/` (too many `..` stop at the root) and written as the relative path to that place, so
   * nothing ever resolves into the host.
   */
  escapingSymlinks?: "refuse" | "rebase";
}

export async function extractTar(
  input: Readable,
  target: string,
  opts: ExtractOptions,
): Promise<ExtractedFile[]> {
  await mkdir(dirname(target), { recursive: true });
  await mkdir(target); // must not exist yet: everything in it is ours, so removing it on failure is safe
  const extract = tarExtract();
  let sourceError: unknown;
  input.on("error", (e) => {
    sourceError = e;
    extract.destroy(e);
  });
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const symlinks = new Set<string>();
  const files = new Map<string, ExtractedFile>();
  const out: ExtractedFile[] = [];
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const name = safeName(h.name, opts.label);
      const type =
        h.type === "file" || h.type === "contiguous-file"
          ? "file"
          : h.type === "directory"
            ? "directory"
            : h.type === "symlink"
              ? "symlink"
              : h.type === "link"
                ? "hardlink"
                : undefined;
      const dest = type && name ? (opts.select ? opts.select(name, type) : name) : undefined;
      // Without `select` a name is its destination: a device or fifo under a symlink is a hostile sign too.
      if (!type && name && !opts.select) throughSymlink(name, symlinks, opts.label);
      if (dest === undefined || !type) {
        await drain(entry);
        continue;
      }
      const rel = safeName(dest, opts.label);
      if (!rel) {
        await drain(entry);
        continue;
      }
      throughSymlink(rel, symlinks, opts.label);
      const abs = join(target, ...rel.split("/"));
      if (type === "directory") {
        await drain(entry);
        await mkdirIn(target, rel);
        continue;
      }
      await mkdirIn(target, posix.dirname(rel));
      await clear(abs, rel, opts.label);
      if (type === "symlink") {
        await drain(entry);
        const to = h.linkname ?? "";
        let written = to;
        if (opts.escapingSymlinks === "rebase") {
          if (!to || to.includes("\0"))
            throw unsafe(opts.label, `symlink ${q(h.name)} has an empty or bad target`);
          const dir = `/${posix.dirname(rel)}`;
          written = posix.relative(dir, posix.resolve(dir, to)) || ".";
        } else {
          const resolved = posix.normalize(posix.join(posix.dirname(rel), to));
          if (!to || to.startsWith("/") || resolved === ".." || resolved.startsWith("../")) {
            throw unsafe(opts.label, `symlink ${q(h.name)} points outside the archive root (${q(to)})`);
          }
        }
        await symlink(written, abs);
        symlinks.add(rel);
        const f: ExtractedFile = {
          path: rel,
          type: "symlink",
          mode: 0o777,
          size: 0,
          target: written,
          ...(written !== to ? { rebasedFrom: to } : {}),
        };
        out.push(f);
        continue;
      }
      if (type === "hardlink") {
        await drain(entry);
        const toName = safeName(h.linkname ?? "", opts.label);
        const toRel = toName && opts.select ? opts.select(toName, "file") : toName;
        const src = toRel ? files.get(toRel) : undefined;
        if (!src) {
          throw unsafe(
            opts.label,
            `hardlink ${q(h.name)} does not point to a file extracted before it (${q(h.linkname)})`,
          );
        }
        await link(join(target, ...src.path.split("/")), abs);
        const f: ExtractedFile = { ...src, path: rel, type: "hardlink", target: src.path };
        files.set(rel, f);
        out.push(f);
        continue;
      }
      const inflate = opts.inflate?.(rel);
      const finalRel = inflate ? rel.replace(/\.[a-z0-9]+$/, "") : rel;
      const finalAbs = inflate ? join(target, ...finalRel.split("/")) : abs;
      if (inflate) {
        throughSymlink(finalRel, symlinks, opts.label);
        await clear(finalAbs, finalRel, opts.label);
      }
      const mode = (h.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
      const hash = createHash("sha256");
      let size = 0;
      const body: AsyncIterable<Buffer> = inflate
        ? decompress(Readable.from(entry), inflate, `${opts.label}:${rel}`)
        : (entry as AsyncIterable<Buffer>);
      await pipeline(
        body,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const c of chunks) {
            hash.update(c);
            size += c.length;
            yield c;
          }
        },
        createWriteStream(finalAbs, { flags: "wx", mode }),
      );
      await chmod(finalAbs, mode);
      const f: ExtractedFile = {
        path: finalRel,
        type: "file",
        mode,
        size,
        sha256: hash.digest("hex"),
        ...(inflate ? { inflated: inflate } : {}),
      };
      files.set(finalRel, f);
      if (inflate) files.set(rel, f);
      out.push(f);
    }
    if (sourceError) throw sourceError;
    return out;
  } catch (e) {
    input.unpipe();
    input.destroy();
    extract.destroy();
    await rm(target, { recursive: true, force: true });
    if (isKilnError(e)) throw e;
    if (isKilnError(sourceError)) throw sourceError;
    throw new KilnError(
      "KILN_EARCHIVE_INVALID",
      `Cannot read the tar archive in ${q(opts.label)}: ${(e as Error).message}`,
      "The archive is damaged or truncated; download it again.",
      { cause: e },
    );
  }
}

/** The entry's path without `./`, or "" for the root; unsafe names are refused. */
function safeName(name: string, label: string): string {
  if (name.includes("\0")) throw unsafe(label, `entry name ${q(name)} contains a NUL byte`);
  if (name.startsWith("/")) throw unsafe(label, `entry ${q(name)} has an absolute path`);
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw unsafe(label, `entry ${q(name)} climbs out of the root with ".."`);
  return parts.join("/");
}

function throughSymlink(rel: string, symlinks: Set<string>, label: string): void {
  const parts = rel.split("/");
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    if (symlinks.has(prefix))
      throw unsafe(label, `entry ${q(rel)} would be written through the symlink ${q(prefix)}`);
  }
}

async function mkdirIn(target: string, rel: string): Promise<void> {
  if (!rel || rel === ".") return;
  await mkdir(join(target, ...rel.split("/")), { recursive: true, mode: 0o755 });
}

/** A later entry with the same name replaces a file or link (as tar does), never a directory. */
async function clear(abs: string, rel: string, label: string): Promise<void> {
  try {
    const st = await lstat(abs);
    if (st.isDirectory()) {
      throw new KilnError(
        "KILN_EARCHIVE_INVALID",
        `Cannot extract ${q(label)}: entry ${q(rel)} would replace a directory`,
        "The archive is malformed.",
      );
    }
    await unlink(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
}

async function drain(s: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of s) {
  }
}

function unsafe(label: string, why: string): KilnError {
  return new KilnError(
    "KILN_EARCHIVE_UNSAFE",
    `Refusing to extract ${q(label)}: ${why}`,
    "The archive tries to write outside its directory; do not use it. Nothing was extracted.",
  );
}
