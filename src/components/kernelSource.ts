// Debian's `linux-source-6.1` package, fetched with apt-get (no root), checked against the digest apt-cache
// publishes, and unpacked once under the cache: the specialized kernel is built from it, unmodified.
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { buildDirAtomic } from "../core/atomic.js";
import { sha256File } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import { exec } from "../core/exec.js";
import { withLock } from "../core/lockFile.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { type AptPackage, aptCandidate, aptDownload, aptRecord } from "./apt.js";

export const KERNEL_SOURCE_PACKAGE = "linux-source-6.1";
const TARBALL = "./usr/src/linux-source-6.1.tar.xz";
const TOP = "linux-source-6.1";

export interface KernelSource {
  package: string;
  version: string;
  /** sha256 of the .deb, as apt-cache published it and as we checked it. */
  debSha256: string;
  /** The unpacked kernel tree (absolute). */
  tree: string;
  /** Every Kconfig symbol defined for x86, with "file:line" of its definition (relative to the tree). */
  symbolsFile: string;
}

function sourcesDir(env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "linux-source");
}

function safeVersion(version: string): string {
  // Debian versions may hold ':' and '~'; keep directory names plain.
  return version.replace(/[^A-Za-z0-9.+-]/g, "_");
}

async function readSource(dir: string): Promise<KernelSource | undefined> {
  try {
    const meta = JSON.parse(await readFile(join(dir, "source.json"), "utf8")) as Omit<
      KernelSource,
      "tree" | "symbolsFile"
    >;
    const tree = join(dir, TOP);
    const symbolsFile = join(dir, "symbols.json");
    if (!existsSync(join(tree, "Makefile")) || !existsSync(symbolsFile)) return undefined;
    return { ...meta, tree, symbolsFile };
  } catch {
    return undefined;
  }
}

/**
 * An already unpacked source tree, found without asking apt: `version` if given, else the last of the cached
 * versions in name order (one directory per Debian version).
 */
export async function findKernelSource(opts: { env?: NodeJS.ProcessEnv; version?: string } = {}) {
  const root = sourcesDir(opts.env);
  if (opts.version) return readSource(join(root, safeVersion(opts.version)));
  let names: string[];
  try {
    names = (await readdir(root)).filter((n) => !n.startsWith(".")).sort();
  } catch {
    return undefined;
  }
  for (const n of names.reverse()) {
    const s = await readSource(join(root, n));
    if (s) return s;
  }
  return undefined;
}

/** Ask apt which linux-source-6.1 it would fetch, and that file's published digest. */
export async function aptKernelSourceInfo(env?: NodeJS.ProcessEnv): Promise<AptPackage> {
  const version = await aptCandidate(KERNEL_SOURCE_PACKAGE, env);
  const rec = version ? await aptRecord(KERNEL_SOURCE_PACKAGE, version, env) : undefined;
  if (!rec) {
    throw new KilnError(
      "KILN_EKERNEL_SOURCE",
      `Cannot find the Debian package ${q(KERNEL_SOURCE_PACKAGE)} in apt's lists`,
      "Run `apt-get update` on a Debian 12 (bookworm) system; the specialized kernel is built from that package.",
    );
  }
  return rec;
}

/**
 * The unpacked kernel source: the cached tree if there is one (no apt query, so builds stay put on one
 * version), else apt's candidate, downloaded, verified and unpacked (about 140 MB, 10 s, 1.5 GB on disk).
 */
export async function ensureKernelSource(
  opts: { env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<KernelSource> {
  const cached = await findKernelSource({ env: opts.env });
  if (cached) return cached;
  const progress = opts.progress ?? silentProgress;
  const info = await aptKernelSourceInfo(opts.env);
  const root = sourcesDir(opts.env);
  const dir = join(root, safeVersion(info.version));
  await mkdir(root, { recursive: true });
  // Unpacking takes 1.5 GB: one kiln at a time does it, the others wait and use the result.
  return withLock(`${dir}.lock`, () => unpackSource(dir, info, progress, opts.env), {
    timeoutMs: 30 * 60_000,
    what: `${KERNEL_SOURCE_PACKAGE} ${info.version}`,
  });
}

async function unpackSource(
  dir: string,
  info: AptPackage,
  progress: Progress,
  env: NodeJS.ProcessEnv | undefined,
): Promise<KernelSource> {
  const ready = await readSource(dir);
  if (ready) return ready;
  try {
    await buildDirAtomic(dir, async (tmp) => {
      progress.step(
        `Downloading ${KERNEL_SOURCE_PACKAGE} ${info.version} (${(info.size / 1e6).toFixed(0)} MB) with apt-get`,
      );
      const debPath = await aptDownload(info, tmp, env);
      const deb = basename(debPath);
      const got = await sha256File(debPath);
      if (got !== info.sha256) {
        throw new KilnError(
          "KILN_EDIGEST",
          `Downloaded ${q(deb)} has sha256 ${q(got)}, but apt-cache publishes ${q(info.sha256)}`,
          "Run `apt-get update` and try again; if it persists, the mirror serves a wrong file.",
        );
      }
      progress.done();
      progress.step(`Unpacking ${KERNEL_SOURCE_PACKAGE} ${info.version} (1.5 GB)`);
      // Debian's own tools on a digest-checked file: GNU tar drops leading '/' and refuses '..' members.
      await exec(
        "bash",
        [
          "-c",
          'set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" | tar -xJf - --no-same-owner -C "$3"',
          "kiln-unpack",
          debPath,
          TARBALL,
          tmp,
        ],
        { env },
      );
      await rm(debPath);
      const tree = join(tmp, TOP);
      if (!existsSync(join(tree, "Makefile"))) {
        throw new KilnError(
          "KILN_EKERNEL_SOURCE",
          `${q(deb)} did not hold ${q(`${TARBALL}`)} with a kernel tree`,
          "The package layout changed; report it to the kiln developers.",
        );
      }
      await writeFile(join(tmp, "symbols.json"), JSON.stringify(await indexKconfigSymbols(tree)));
      await writeFile(
        join(tmp, "source.json"),
        `${JSON.stringify({ package: KERNEL_SOURCE_PACKAGE, version: info.version, debSha256: info.sha256 }, null, 2)}\n`,
      );
      progress.done();
    });
  } catch (e) {
    progress.fail();
    throw e;
  }
  const src = await readSource(dir);
  if (!src) throw new Error(`kernel source at ${dir} vanished`);
  return src;
}

/**
 * Every `config`/`menuconfig` symbol in the tree's Kconfig files, skipping other architectures, mapped to
 * where it is defined. Used to tell "no such symbol" (a typo in a catalogue) from "exists but could not be
 * enabled" (a dependency is off).
 */
export async function indexKconfigSymbols(tree: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const rel = relative(tree, p);
        if (rel.startsWith("arch/") && rel.split("/").length === 2 && rel !== "arch/x86") continue;
        if (rel === "Documentation" || rel === "tools" || rel === ".git") continue;
        await walk(p);
      } else if (e.isFile() && e.name.startsWith("Kconfig")) {
        const lines = (await readFile(p, "utf8")).split("\n");
        for (const [i, line] of lines.entries()) {
          const m = /^\s*(?:menu)?config\s+([A-Za-z0-9_]+)\s*$/.exec(line);
          if (m?.[1] && !(m[1] in out)) out[m[1]] = `${relative(tree, p)}:${i + 1}`;
        }
      }
    }
  };
  await walk(tree);
  return out;
}
