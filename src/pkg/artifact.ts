/**
 * A built package as one blob: the files its install step put under the prefix, as a deterministic tar.
 * Builds run with --prefix=<kiln prefix>, so text files (pkg-config .pc, libtool .la, CMake configs) name
 * that path; packing replaces it with a placeholder and installing puts the real prefix back, so one
 * artifact serves every KILN_HOME. `.kiln-artifact.json` at the top lists the rewritten files.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import {
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, posix, relative } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { KilnError, q } from "../core/errors.js";
import { scratchBeside } from "../core/scratchName.js";
import type { Store } from "../core/store.js";
import { type TarEntry, tarStream } from "../core/tarWriter.js";
import type { BlobRef } from "./repository.js";
import { treeEntries } from "./treeTar.js";

export const PLACEHOLDER = "@@KILN_PREFIX@@";
export const ARTIFACT_META = ".kiln-artifact.json";

interface ArtifactMeta {
  format: 1;
  name: string;
  version: string;
  /** Files holding PLACEHOLDER where the prefix goes. */
  prefixed: string[];
}

/** Pack the staged prefix `staged` (built for `prefix`) into the store. */
export async function packArtifact(
  staged: string,
  prefix: string,
  pkg: { name: string; version: string },
  store: Store,
): Promise<BlobRef & { path: string; files: string[] }> {
  // Absolute symlinks into the prefix become relative ones; others cannot be carried.
  await relinkAbsolute(staged, prefix);
  const entries = await treeEntries(staged, { label: `the build of ${pkg.name}` });
  const prefixed: string[] = [];
  const needle = Buffer.from(prefix);
  const out: TarEntry[] = [];
  for (const e of entries) {
    if (e.path && e.size !== undefined && e.size < 16 * 1024 * 1024) {
      const data = await readFile(e.path);
      if (!data.includes(0) && data.includes(needle)) {
        prefixed.push(e.name);
        out.push({
          name: e.name,
          mode: e.mode ?? 0o644,
          data: Buffer.from(data.toString("latin1").split(prefix).join(PLACEHOLDER), "latin1"),
        });
        continue;
      }
    }
    out.push(e);
  }
  const meta: ArtifactMeta = { format: 1, name: pkg.name, version: pkg.version, prefixed };
  out.push({ name: ARTIFACT_META, data: Buffer.from(`${JSON.stringify(meta)}\n`) });
  return store.withTmpDir(async (dir) => {
    const tmp = join(dir, "artifact.tar");
    await pipeline(tarStream(out), createWriteStream(tmp));
    const put = await store.put(tmp);
    return {
      sha256: put.sha256,
      size: put.size,
      path: put.path,
      files: out.filter((e) => e.type !== "directory" && e.name !== ARTIFACT_META).map((e) => e.name),
    };
  });
}

async function relinkAbsolute(root: string, prefix: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, d.name);
      if (d.isDirectory()) await walk(abs);
      else if (d.isSymbolicLink()) {
        const to = await readlink(abs);
        if (!to.startsWith("/")) continue;
        if (to !== prefix && !to.startsWith(`${prefix}/`)) {
          throw new KilnError(
            "KILN_EBUILD_OUTPUT",
            `The build installed a symlink ${q(relative(root, abs))} to ${q(to)}, outside the prefix`,
            "Make the install step link inside the prefix (or relatively).",
          );
        }
        const target =
          posix.relative(posix.dirname(`/${relative(root, abs)}`), `/${to.slice(prefix.length + 1)}`) || ".";
        await unlink(abs);
        await symlink(target, abs);
      }
    }
  };
  await walk(root);
}

/**
 * Unpack an artifact blob into `prefix`: read once while hashing (a blob damaged in the store is caught
 * here: KILN_ESTORE_CORRUPT), extracted safely into a scratch directory beside the prefix, the prefix
 * written back into the listed files, then each file moved into place. Returns the installed files.
 */
export async function installArtifact(blobPath: string, sha: string, prefix: string): Promise<string[]> {
  const { extractTar } = await import("../core/safeTar.js");
  const parent = dirname(prefix);
  await mkdir(prefix, { recursive: true });
  const tmp = await scratchBeside(join(parent, "kiln-install"));
  try {
    const h = createHash("sha256");
    const hashing = new Transform({
      transform(chunk: Buffer, _e, cb) {
        h.update(chunk);
        cb(null, chunk);
      },
    });
    const source = createReadStream(blobPath);
    source.on("error", (e) => hashing.destroy(e));
    source.pipe(hashing);
    const files = await extractTar(hashing, tmp, { label: `artifact ${sha.slice(0, 12)}` });
    const got = h.digest("hex");
    if (got !== sha) {
      throw new KilnError(
        "KILN_ESTORE_CORRUPT",
        `The store's blob ${sha} has changed: its content hashes to ${got}`,
        "Run `kiln store verify` to see what is damaged, then `kiln gc --grace 0` and install again.",
      );
    }
    const meta = JSON.parse(await readFile(join(tmp, ARTIFACT_META), "utf8")) as ArtifactMeta;
    for (const p of meta.prefixed) {
      const f = join(tmp, ...p.split("/"));
      const text = (await readFile(f)).toString("latin1");
      await writeFile(f, Buffer.from(text.split(PLACEHOLDER).join(prefix), "latin1"));
    }
    const installed: string[] = [];
    for (const f of files) {
      if (f.path === ARTIFACT_META) continue;
      const dest = join(prefix, ...f.path.split("/"));
      await mkdir(dirname(dest), { recursive: true });
      const st = await lstat(dest).catch(() => undefined);
      if (st?.isDirectory()) {
        throw new KilnError(
          "KILN_EINSTALL_CONFLICT",
          `Cannot install ${q(f.path)} into ${q(prefix)}: a directory is in its place`,
          "Remove it from the prefix, or uninstall the package that made it.",
        );
      }
      await rename(join(tmp, ...f.path.split("/")), dest);
      installed.push(f.path);
    }
    return installed.sort();
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
