/**
 * The content-addressed store (under paths.store()):
 *
 *   blobs/sha256/<hex>          bytes, named by their digest, written once (temp file + rename)
 *   trees/<key>/root/...        an unpacked tree, keyed by the digest of its source
 *   trees/<key>/tree.json       its index: every file's path, mode, size and sha256 (symlinks: target)
 *   locks/<name>.lock           per-object locks so that several kiln processes can share the store
 *   tmp/                        private scratch space of running operations (same filesystem: renames work),
 *                               named by scratchName, so that what killed kilns left can be told apart
 *
 * Readers never see a partial object: blobs are verified before their rename, trees are built beside their
 * final place and moved in with one rename. Nothing in the store is modified in place.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, chmod, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { buildDirAtomic, writeFileAtomic } from "./atomic.js";
import { sha256File } from "./digest.js";
import { KilnError, q } from "./errors.js";
import { withLock } from "./lockFile.js";
import { paths } from "./paths.js";
import { scratchName, sweepScratch } from "./scratchName.js";

export interface TreeFile {
  /** POSIX path relative to the tree root. */
  path: string;
  type: "file" | "symlink";
  mode: number;
  size: number;
  /** Files only. */
  sha256?: string;
  /** Symlinks only. */
  target?: string;
}

export interface TreeIndex {
  format: 1;
  key: string;
  files: TreeFile[];
}

export interface Tree {
  /** Absolute path of the tree's files. */
  root: string;
  index: TreeIndex;
}

export interface PutResult {
  sha256: string;
  size: number;
  path: string;
}

export interface VerifyProblem {
  kind: "blob" | "tree";
  /** Path relative to the store root. */
  path: string;
  problem:
    | "digest mismatch"
    | "size mismatch"
    | "mode mismatch"
    | "target mismatch"
    | "missing"
    | "unexpected"
    | "bad index";
}

export interface VerifyReport {
  blobs: number;
  trees: number;
  files: number;
  problems: VerifyProblem[];
}

const HEX64 = /^[0-9a-f]{64}$/;
const KEY = /^[a-z0-9][a-z0-9._-]{0,127}$/;

export class Store {
  constructor(readonly root: string) {}

  blobPath(sha256: string): string {
    return join(this.root, "blobs", "sha256", checkDigest(sha256));
  }

  async has(sha256: string): Promise<boolean> {
    return exists(this.blobPath(sha256));
  }

  /** Alias of blobPath, for symmetry with has/put. */
  path(sha256: string): string {
    return this.blobPath(sha256);
  }

  /**
   * Store bytes, or the file at a path. With `expectedSha256`, content that does not match is refused
   * (KILN_EDIGEST) and nothing is stored. Concurrent puts of the same content are safe without a lock:
   * each writes its own temp file and the renames replace identical bytes.
   */
  async put(source: Uint8Array | string, expectedSha256?: string): Promise<PutResult> {
    if (expectedSha256 !== undefined) checkDigest(expectedSha256);
    const label = typeof source === "string" ? source : "data";
    if (expectedSha256 && (await this.has(expectedSha256))) {
      // Already there: still make sure the caller's content is what it claims to be.
      const got = typeof source === "string" ? await sha256File(source) : digestOf(source);
      if (got !== expectedSha256) throw digestError(label, expectedSha256, got);
      const path = this.blobPath(got);
      return { sha256: got, size: (await stat(path)).size, path };
    }
    // The temp file sits beside its final name (dot-prefixed, which verify skips): one rename in one
    // directory, and no shared scratch directory that another process might be removing.
    const blobDir = join(this.root, "blobs", "sha256");
    await mkdir(blobDir, { recursive: true });
    const tmp = join(blobDir, scratchName(".blob"));
    try {
      // One pass: the digest is of the bytes actually written, not of a source that could change meanwhile.
      const h = createHash("sha256");
      let size = 0;
      const out = createWriteStream(tmp, { flags: "wx", mode: 0o644 });
      if (typeof source === "string") {
        await pipeline(
          createReadStream(source),
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const c of chunks) {
              h.update(c);
              size += c.length;
              yield c;
            }
          },
          out,
        );
      } else {
        h.update(source);
        size = source.length;
        await pipeline(
          (async function* () {
            yield source;
          })(),
          out,
        );
      }
      const sha = h.digest("hex");
      if (expectedSha256 && sha !== expectedSha256) throw digestError(label, expectedSha256, sha);
      const path = this.blobPath(sha);
      await chmod(tmp, 0o444);
      await rename(tmp, path);
      return { sha256: sha, size, path };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  treeDir(key: string): string {
    return join(this.root, "trees", checkKey(key));
  }

  /** Where a tree's files are (whether or not it exists): cheap, no index read. */
  treeRoot(key: string): string {
    return join(this.treeDir(key), "root");
  }

  async hasTree(key: string): Promise<boolean> {
    return exists(join(this.treeDir(key), "tree.json"));
  }

  /**
   * Build a tree once: `fill(root)` writes the files under `root` (which it may create; it does not exist
   * yet). Two processes asking for one key build it once: the second waits for the lock and finds it made.
   * `replace` rebuilds an existing tree (readers see the old or the new one, never a mix).
   */
  async putTree(
    key: string,
    fill: (root: string) => Promise<void>,
    opts: { replace?: boolean } = {},
  ): Promise<Tree> {
    const dir = this.treeDir(key);
    return this.withLock(`tree-${key}`, async () => {
      if (!opts.replace && (await this.hasTree(key))) return this.openTree(key);
      // Builds of this key left by killed processes (we hold its lock: none is running).
      const trees = join(this.root, "trees");
      for (const name of await listDir(trees)) {
        if (name.startsWith(`.${key}.tmp-`)) await rm(join(trees, name), { recursive: true, force: true });
      }
      let index: TreeIndex | undefined;
      await buildDirAtomic(
        dir,
        async (tmp) => {
          const root = join(tmp, "root");
          await fill(root);
          await mkdir(root, { recursive: true });
          index = { format: 1, key, files: await indexDir(root) };
          await writeFileAtomic(join(tmp, "tree.json"), `${JSON.stringify(index)}\n`);
        },
        { replace: opts.replace ?? false },
      );
      return { root: join(dir, "root"), index: index! };
    });
  }

  async openTree(key: string): Promise<Tree> {
    const dir = this.treeDir(key);
    let text: string;
    try {
      text = await readFile(join(dir, "tree.json"), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      throw new KilnError(
        "KILN_ESTORE_MISSING",
        `Cannot find tree ${q(key)} in the store ${q(this.root)}`,
        "Fetch it again (for the kernel: `kiln components fetch`).",
      );
    }
    return { root: join(dir, "root"), index: parseIndex(text, key) };
  }

  /** Run `fn` holding the store lock `name` (one per object; names are store keys). */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return withLock(join(this.root, "locks", `${checkKey(name)}.lock`), fn, {
      what: `store object ${name}`,
      removeEmptyDir: true,
    });
  }

  /** A private scratch directory on the store's filesystem, removed after `fn`. */
  async withTmpDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const tmp = join(this.root, "tmp");
    const blobDir = join(this.root, "blobs", "sha256");
    // Scratch files of kiln processes that were killed (their names say whose they are).
    await sweepScratch(tmp);
    await sweepScratch(blobDir, { stem: ".blob" });
    const dir = join(tmp, scratchName("op"));
    await mkdir(dir, { recursive: true });
    try {
      return await fn(dir);
    } finally {
      // tmp/ itself stays: other parts of kiln put scratch files there, and removing it under them races.
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Recheck every blob and every tree file against its recorded digest. */
  async verify(): Promise<VerifyReport> {
    const report: VerifyReport = { blobs: 0, trees: 0, files: 0, problems: [] };
    const blobDir = join(this.root, "blobs", "sha256");
    for (const name of (await listDir(blobDir)).sort()) {
      const rel = `blobs/sha256/${name}`;
      if (name.startsWith(".blob")) continue; // a put in progress, or one gc removes
      if (!HEX64.test(name)) {
        report.problems.push({ kind: "blob", path: rel, problem: "unexpected" });
        continue;
      }
      report.blobs++;
      if ((await sha256File(join(blobDir, name))) !== name) {
        report.problems.push({ kind: "blob", path: rel, problem: "digest mismatch" });
      }
    }
    for (const key of (await listDir(join(this.root, "trees"))).sort()) {
      if (key.startsWith(".")) continue; // a tree being built
      report.trees++;
      const base = `trees/${key}`;
      let index: TreeIndex;
      try {
        index = parseIndex(await readFile(join(this.root, base, "tree.json"), "utf8"), key);
      } catch {
        report.problems.push({ kind: "tree", path: `${base}/tree.json`, problem: "bad index" });
        continue;
      }
      const root = join(this.root, base, "root");
      const actual = new Map((await indexDir(root, false)).map((f) => [f.path, f]));
      for (const want of index.files) {
        report.files++;
        const rel = `${base}/root/${want.path}`;
        const got = actual.get(want.path);
        actual.delete(want.path);
        if (!got || got.type !== want.type) {
          report.problems.push({ kind: "tree", path: rel, problem: "missing" });
        } else if (want.type === "symlink") {
          if (got.target !== want.target)
            report.problems.push({ kind: "tree", path: rel, problem: "target mismatch" });
        } else if (got.size !== want.size) {
          report.problems.push({ kind: "tree", path: rel, problem: "size mismatch" });
        } else if ((await sha256File(join(root, want.path))) !== want.sha256) {
          report.problems.push({ kind: "tree", path: rel, problem: "digest mismatch" });
        } else if (got.mode !== want.mode) {
          report.problems.push({ kind: "tree", path: rel, problem: "mode mismatch" });
        }
      }
      for (const extra of actual.keys()) {
        report.problems.push({ kind: "tree", path: `${base}/root/${extra}`, problem: "unexpected" });
      }
    }
    return report;
  }
}

export function openStore(env: NodeJS.ProcessEnv = process.env): Store {
  return new Store(paths.store(env));
}

function checkDigest(sha: string): string {
  if (!HEX64.test(sha)) {
    throw new KilnError(
      "KILN_EDIGEST_INVALID",
      `Not a sha256 digest: ${q(sha)}`,
      "Give 64 lowercase hex digits.",
    );
  }
  return sha;
}

function checkKey(key: string): string {
  if (!KEY.test(key)) {
    throw new KilnError(
      "KILN_ESTORE_KEY",
      `Not a store key: ${q(key)}`,
      "Keys are lowercase letters, digits, '.', '_' and '-' (a digest, usually).",
    );
  }
  return key;
}

function digestOf(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function digestError(label: string, want: string, got: string): KilnError {
  return new KilnError(
    "KILN_EDIGEST",
    `Digest mismatch for ${q(label)}: expected sha256 ${want}, got ${got}`,
    "The download or file is corrupt or not the one expected; fetch it again. Nothing was stored.",
    { details: { expected: want, actual: got } },
  );
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

function parseIndex(text: string, key: string): TreeIndex {
  const index = JSON.parse(text) as TreeIndex;
  if (index.format !== 1 || index.key !== key || !Array.isArray(index.files)) {
    throw new KilnError(
      "KILN_ESTORE_CORRUPT",
      `The index of tree ${q(key)} is not a kiln tree index`,
      "Remove the tree from the store and fetch it again.",
    );
  }
  return index;
}

/** Every file and symlink under `root`, sorted by path (directories are implied). */
async function indexDir(root: string, hash = true): Promise<TreeFile[]> {
  const out: TreeFile[] = [];
  async function walk(dir: string, rel: string): Promise<void> {
    for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const abs = join(dir, d.name);
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await walk(abs, r);
      else if (d.isSymbolicLink()) {
        out.push({ path: r, type: "symlink", mode: 0o777, size: 0, target: await readlink(abs) });
      } else if (d.isFile()) {
        const st = await lstat(abs);
        out.push({ path: r, type: "file", mode: st.mode & 0o7777, size: st.size });
      }
    }
  }
  await walk(root, "");
  if (hash) {
    // A few files at a time: hashing overlaps with reading (module trees are a thousand small files).
    const files = out.filter((f) => f.type === "file");
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const f = files[next++]!;
        const abs = join(root, ...f.path.split("/"));
        // Small files in one read: a stream per module costs more than hashing it.
        f.sha256 = f.size <= 4 << 20 ? digestOf(await readFile(abs)) : await sha256File(abs);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
