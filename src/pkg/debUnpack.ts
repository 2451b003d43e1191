/**
 * Unpack a Debian package's files (data.tar.*) as a root filesystem tree. It differs from
 * src/core/safeTar.ts (which refuses them) in one way: Debian packages carry absolute symlinks
 * (`/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`), which mean "from the root of
 * the system being installed". Each is rewritten relative to its own directory, pointing at the same place
 * inside the tree, so that nothing ever resolves into the host. Everything else is refused as in safeTar:
 * `..` or absolute entry names, writes through symlinks, hard links to anything but an earlier file.
 */
import { createWriteStream } from "node:fs";
import { chmod, link, lstat, mkdir, symlink, unlink } from "node:fs/promises";
import { basename, join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract } from "tar-stream";
import { arMemberStream, readArMembers } from "../core/ar.js";
import { compressionOf, decompress } from "../core/decompress.js";
import { isKilnError, KilnError, q } from "../core/errors.js";

export interface DebEntry {
  path: string;
  type: "file" | "symlink" | "hardlink";
  /** Symlinks: the target as written in the package (absolute ones before rewriting). */
  target?: string;
}

/** `target` must not exist; on failure it is left for the caller to remove (store.putTree does). */
export async function unpackDebRoot(deb: string, target: string): Promise<DebEntry[]> {
  const members = await readArMembers(deb);
  const data = members.find((m) => m.name.startsWith("data.tar"));
  const kind = data ? compressionOf(data.name) : undefined;
  if (!data || kind === undefined) {
    throw new KilnError(
      "KILN_EARCHIVE_INVALID",
      `Cannot read Debian package ${q(deb)}: no data.tar member kiln can decompress`,
      "The file is damaged or not a .deb; download it again.",
    );
  }
  const label = `${basename(deb)}:${data.name}`;
  const input = decompress(arMemberStream(deb, data), kind, label);
  const extract = tarExtract();
  input.on("error", (e) => extract.destroy(e));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  await mkdir(target, { recursive: true });
  const symlinks = new Set<string>();
  const files = new Set<string>();
  const out: DebEntry[] = [];
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const rel = safeName(h.name, label);
      const abs = rel ? join(target, ...rel.split("/")) : target;
      if (rel) throughSymlink(rel, symlinks, label);
      if (h.type === "directory" || !rel) {
        await drain(entry);
        if (rel) await mkdir(abs, { recursive: true, mode: 0o755 });
        continue;
      }
      await mkdir(join(target, ...posix.dirname(rel).split("/")), { recursive: true });
      if (h.type === "symlink") {
        await drain(entry);
        const to = h.linkname ?? "";
        if (!to || to.includes("\0")) throw unsafe(label, `symlink ${q(h.name)} has an empty or bad target`);
        // Resolve against the link's directory as the kernel would, clamped at the tree's root.
        const resolved = posix.resolve(`/${posix.dirname(rel)}`, to);
        const rewritten = posix.relative(`/${posix.dirname(rel)}`, resolved) || ".";
        await replace(abs);
        await symlink(rewritten, abs);
        symlinks.add(rel);
        out.push({ path: rel, type: "symlink", target: to });
      } else if (h.type === "link") {
        await drain(entry);
        const from = safeName(h.linkname ?? "", label);
        if (!files.has(from)) {
          throw unsafe(
            label,
            `hard link ${q(h.name)} does not point to a file unpacked before it (${q(h.linkname)})`,
          );
        }
        await replace(abs);
        await link(join(target, ...from.split("/")), abs);
        files.add(rel);
        out.push({ path: rel, type: "hardlink", target: from });
      } else if (h.type === "file" || h.type === "contiguous-file") {
        await replace(abs);
        const mode = (h.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
        await pipeline(entry, createWriteStream(abs, { flags: "wx", mode }));
        await chmod(abs, mode);
        files.add(rel);
        out.push({ path: rel, type: "file" });
      } else {
        // Devices, fifos: not part of an image's files.
        await drain(entry);
      }
    }
    return out;
  } catch (e) {
    input.destroy();
    extract.destroy();
    if (isKilnError(e)) throw e;
    throw new KilnError(
      "KILN_EARCHIVE_INVALID",
      `Cannot unpack ${q(label)}: ${(e as Error).message}`,
      "The package is damaged or truncated; download it again.",
      { cause: e },
    );
  }
}

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

async function replace(abs: string): Promise<void> {
  try {
    const st = await lstat(abs);
    if (st.isDirectory()) throw new Error(`${abs} is a directory`);
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
    `Refusing to unpack ${q(label)}: ${why}`,
    "The package tries to write outside its directory; do not use it. Nothing was kept.",
  );
}
