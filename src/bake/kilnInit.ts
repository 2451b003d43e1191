import { readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, realpath, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256 } from "../core/digest.js";
import { parseElf } from "../core/elf.js";
import { KilnError, q } from "../core/errors.js";
import { exec, which } from "../core/exec.js";
import type { Progress } from "../core/progress.js";
import { silentProgress } from "../core/progress.js";
import { scratchBeside } from "../core/scratchName.js";
import { KILN_VERSION } from "../core/version.js";

export interface KilnInitBuild {
  /** The static kiln-init binary, in the cache. */
  path: string;
  sha256: string;
  size: number;
  /** KILN_VERSION plus a digest of the sources, e.g. "0.1.0+3f2a9c0b1d4e"; kiln-init prints it with kiln.debug=1. */
  version: string;
}

/**
 * Compiler flags. Part of the cache key. Beyond size (-Os, sections collected, no unwind tables), they make
 * the bytes depend only on sources and compiler: no build id, a fixed random seed, and host paths mapped
 * away (sources are also compiled by relative name from inside guest/).
 */
export const KILN_INIT_CFLAGS: readonly string[] = [
  "-std=c11",
  "-static",
  "-Os",
  "-s",
  "-ffunction-sections",
  "-fdata-sections",
  "-Wl,--gc-sections",
  "-fno-asynchronous-unwind-tables",
  "-fno-unwind-tables",
  "-Wl,--build-id=none",
  "-frandom-seed=kiln-init",
];

/** guest/ beside src/ (and beside dist/ once built): the same depth from both. */
export function guestDir(): string {
  return fileURLToPath(new URL("../../guest/", import.meta.url));
}

interface Sources {
  dir: string;
  /** The .c files compiled into kiln-init, sorted. */
  units: string[];
  /** Digest over every top-level .c and .h file's name and bytes. */
  digest: string;
}

/** The digest of kiln-init's sources: what a cache of baked images must key on besides kiln's version. */
export function kilnInitSourceDigest(): string {
  return readSources(guestDir()).digest;
}

/** Synchronous: a dozen small files, each an asynchronous read's several thread-pool round trips. */
function readSources(dir: string): Sources {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith(".c") || n.endsWith(".h"))
      .sort();
  } catch (e) {
    throw new KilnError(
      "KILN_EKILN_INIT_SOURCES",
      `Cannot read kiln-init's sources in ${q(dir)}: ${(e as Error).message}`,
      "Reinstall kiln: its package must include the guest/ directory.",
      { cause: e },
    );
  }
  const units = names.filter((n) => n.endsWith(".c"));
  if (!units.includes("init.c")) {
    throw new KilnError(
      "KILN_EKILN_INIT_SOURCES",
      `Cannot find kiln-init's sources: ${q(join(dir, "init.c"))} is missing`,
      "Reinstall kiln: its package must include the guest/ directory.",
    );
  }
  const parts: string[] = [];
  for (const n of names) parts.push(n, sha256(readFileSync(join(dir, n))));
  return { dir, units, digest: sha256(parts.join("\n")) };
}

/**
 * Build kiln-init (guest/*.c) with `cc` as a static binary, or take it from `cacheDir` when sources, flags
 * and compiler are unchanged. The cache entry is named by a digest of the sources, the flags, the
 * compiler's `--version` output and the compiler file's bytes, and is written by one rename.
 */
export async function ensureKilnInit(opts: {
  cc: string;
  cacheDir: string;
  progress?: Progress;
  /** Identifies the compiler behind `cc` (its kind, path and version); without it, `cc --version` is asked. */
  ccId?: string;
  /** Where the sources are (default: guestDir()); tests build copies from elsewhere. */
  sourceDir?: string;
}): Promise<KilnInitBuild> {
  const progress = opts.progress ?? silentProgress;
  const src = readSources(opts.sourceDir ?? guestDir());
  const version = `${KILN_VERSION}+${src.digest.slice(0, 12)}`;
  const ccPath = await which(opts.cc);
  if (!ccPath) {
    throw new KilnError(
      "KILN_ETOOL_MISSING",
      `Cannot build kiln-init: compiler ${q(opts.cc)} not found`,
      "Run `kiln toolchain` to write the kiln toolchain, or install musl-tools for musl-gcc.",
    );
  }
  // The toolchain already knows its compiler's version; asking the compiler costs a process per bake.
  const ccVersion = opts.ccId ?? (await exec(ccPath, ["--version"], { check: false })).stdout;
  const ccDigest = sha256(await readFile(await realpath(ccPath)));
  const flags = [...KILN_INIT_CFLAGS, `-DKILN_INIT_VERSION="${version}"`];
  const key = sha256(JSON.stringify({ sources: src.digest, flags, ccVersion, ccDigest }));
  const path = join(opts.cacheDir, `kiln-init-${key.slice(0, 32)}`);

  const cached = await readIfPresent(path);
  if (cached) return { path, sha256: sha256(cached), size: cached.length, version };

  progress.step(`compiling kiln-init with ${basename(opts.cc)}`);
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = await scratchBeside(path);
  try {
    const res = await exec(
      ccPath,
      [...flags, `-ffile-prefix-map=${src.dir.replace(/\/$/, "")}=guest`, "-o", tmp, ...src.units],
      { cwd: src.dir, check: false },
    );
    if (res.code !== 0) {
      const tail = `${res.stderr}${res.stdout}`.trim().split("\n").slice(-12).join("\n");
      throw new KilnError(
        "KILN_EKILN_INIT_BUILD",
        `Cannot build kiln-init with ${q(opts.cc)} (status ${res.code}):\n${tail}`,
        "kiln-init needs a C11 compiler that links static x86_64 Linux programs against musl: the kiln " +
          "toolchain (`kiln toolchain`) or Debian's musl-gcc.",
        { details: { cc: ccPath, status: res.code } },
      );
    }
    const bin = await readIfPresent(tmp);
    if (!bin) {
      throw new KilnError(
        "KILN_EKILN_INIT_BUILD",
        `Cannot build kiln-init with ${q(opts.cc)}: it exited with status 0 but wrote no program`,
        "Give the path of a C compiler driver (gcc or clang style), like the kiln toolchain's x86_64-kiln-linux-musl-gcc.",
      );
    }
    checkBinary(bin, opts.cc, [src.dir, opts.cacheDir]);
    await rename(tmp, path);
    return { path, sha256: sha256(bin), size: bin.length, version };
  } finally {
    await rm(tmp, { force: true });
  }
}

async function readIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    if (!(await stat(path)).isFile()) return undefined;
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

/** PID 1 runs before anything could load a shared library, and image bytes must not depend on the host. */
function checkBinary(bin: Buffer, cc: string, hostPaths: string[]): void {
  const elf = parseElf(bin, "kiln-init");
  if (!elf.isStatic || elf.machine !== "x86_64") {
    throw new KilnError(
      "KILN_EKILN_INIT_BUILD",
      `Compiler ${q(cc)} made a kiln-init that is not a static x86-64 program (${elf.machine}${elf.interp ? `, interpreter ${q(elf.interp)}` : ""})`,
      "Build with the kiln toolchain (`kiln toolchain`) or Debian's musl-gcc, which link statically for x86-64.",
    );
  }
  for (const p of hostPaths) {
    const needle = p.replace(/\/$/, "");
    if (needle.length > 1 && bin.includes(needle)) {
      throw new KilnError(
        "KILN_EKILN_INIT_BUILD",
        `Compiler ${q(cc)} wrote the host path ${q(needle)} into kiln-init`,
        "The compiler ignores -ffile-prefix-map; use the kiln toolchain or a gcc/clang from the last five years.",
      );
    }
  }
}
