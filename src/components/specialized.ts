// The specialized kernel: Debian's linux-source-6.1, unmodified, configured as `tinyconfig` plus exactly
// the Kconfig symbols a platform's components ask for plus what every kiln image needs, built once and cached
// by the digest of its final .config.
//
// Cache layout (under KILN_HOME):
//   components/specialized/<configHash>/{bzImage,config,info.json}   one built kernel
//   components/specialized/requests/<requestKey>.json                          symbol set -> configHash
//   cache/specialized-build/<configHash>/                                     make's O= dir while building
//                                              (kept when make fails or is interrupted; the next build resumes)
// The request index is the cheap lookup: a symbol set seen before finds its kernel without running Kconfig
// (which takes ~6 s), so a cached kernel costs two small file reads. It is keyed on the requested symbols and
// on kiln's own base/disable lists, not on the source version: a kernel once built stays the answer until the
// cache is removed, and a new linux-source-6.1 release is used only for symbol sets not built before.
//
// Booting under TCG (bench/specialized-boot.mjs): the local APIC timer cannot be calibrated there and the
// kernel spends ~0.2 s finding that out; `noapictimer no_timer_check` on the command line takes QEMU start
// -> /init's first line from 0.41 s to 0.18 s (PVH vmlinux, microvm,acpi=off). Under KVM leave them off.
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { buildDirAtomic, writeFileAtomic } from "../core/atomic.js";
import { sha256File } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { exec, which } from "../core/exec.js";
import { withLock } from "../core/lockFile.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { runMake } from "../core/runMake.js";
import { scratchBeside } from "../core/scratchName.js";
import {
  BASE_DISABLED,
  BASE_SYMBOLS,
  BASE_VALUES,
  configHashOf,
  configPlan,
  explainOff,
  KCFLAGS,
  normalizeSymbols,
  PLAN_FORMAT,
  parseDotConfig,
  requestKey,
} from "./kconfigPlan.js";
import { ensureKernelSource, type KernelSource } from "./kernelSource.js";

export interface SpecializedKernel {
  release: string;
  /** Absolute path of the compressed, bootable kernel (x86 boot protocol). */
  bzImage: string;
  configHash: string;
  /** Absolute path of the final .config. */
  config: string;
  /** sha256 and size of bzImage. */
  sha256: string;
  size: number;
  /** Requested (or base) symbols that are not =y after olddefconfig. */
  symbolsMissing: string[];
  /** Why each missing symbol is off, from its Kconfig entry (e.g. `depends on "VIRTIO_MENU" (off: VIRTIO_MENU)`). */
  missingReasons: Record<string, string>;
  sourcePackage: string;
  sourceVersion: string;
}

/** Fixed build identity: the same .config and compiler give the same bytes (checked in the e2e test). */
const BUILD_ENV = {
  KCFLAGS,
  KBUILD_BUILD_TIMESTAMP: "1970-01-01",
  KBUILD_BUILD_USER: "kiln",
  KBUILD_BUILD_HOST: "kiln",
  KBUILD_BUILD_VERSION: "1",
  TZ: "UTC",
  LC_ALL: "C",
};

export interface ConfiguredKernel {
  source: KernelSource;
  configText: string;
  configHash: string;
  symbolsMissing: string[];
  missingReasons: Record<string, string>;
}

async function loadSymbolIndex(source: KernelSource): Promise<Record<string, string>> {
  return JSON.parse(await readFile(source.symbolsFile, "utf8")) as Record<string, string>;
}

function checkKnown(symbols: readonly string[], index: Record<string, string>, source: KernelSource): void {
  const unknown = symbols.filter((s) => !(s in index));
  if (unknown.length) {
    throw usageError(
      "KILN_EKCONFIG_UNKNOWN",
      `Kconfig symbol${unknown.length > 1 ? "s" : ""} ${unknown.map((s) => q(s)).join(", ")} ${
        unknown.length > 1 ? "do" : "does"
      } not exist in ${source.package} ${source.version} (x86)`,
      "Check the spelling in the component catalogue; symbols are named without CONFIG_, e.g. VIRTIO_NET.",
      { unknown },
    );
  }
}

function buildEnv(env: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  return { ...(env ?? process.env), ...BUILD_ENV };
}

/** tinyconfig + scripts/config + olddefconfig in `dir` (make's O= directory), then check the result. */
async function configureIn(
  dir: string,
  source: KernelSource,
  symbols: readonly string[],
  index: Record<string, string>,
  env: NodeJS.ProcessEnv | undefined,
): Promise<Omit<ConfiguredKernel, "source">> {
  const e = buildEnv(env);
  const make = (target: string) => exec("make", ["-s", "-C", source.tree, `O=${dir}`, target], { env: e });
  const attempt = async (withDisables: boolean) => {
    const plan = configPlan(symbols, { withDisables });
    await make("tinyconfig");
    const args = ["--file", join(dir, ".config")];
    for (const s of plan.enable) args.push("-e", s);
    for (const s of plan.disable) args.push("-d", s);
    for (const [k, v] of plan.values) args.push("--set-val", k, v);
    await exec(join(source.tree, "scripts", "config"), args, { env: e });
    await make("olddefconfig");
    const configText = await readFile(join(dir, ".config"), "utf8");
    const values = parseDotConfig(configText);
    const wanted = [...new Set([...BASE_SYMBOLS, ...symbols])];
    const symbolsMissing = wanted.filter((s) => values.get(s) !== "y").sort();
    return { configText, values, symbolsMissing };
  };
  let r = await attempt(true);
  if (r.symbolsMissing.length) {
    const without = await attempt(false);
    if (without.symbolsMissing.length < r.symbolsMissing.length) r = without;
    else r = await attempt(true);
  }
  const missingReasons: Record<string, string> = {};
  for (const s of r.symbolsMissing) {
    const where = index[s];
    const m = where ? /^(.*):(\d+)$/.exec(where) : null;
    if (!m?.[1]) continue;
    const text = await readFile(join(source.tree, m[1]), "utf8");
    missingReasons[s] = `${explainOff(text, Number(m[2]), r.values)} [${where}]`;
  }
  return {
    configText: r.configText,
    configHash: configHashOf(source.version, r.configText),
    symbolsMissing: r.symbolsMissing,
    missingReasons,
  };
}

function buildRoot(env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "specialized-build");
}

function kernelsRoot(env?: NodeJS.ProcessEnv): string {
  return join(paths.components(env), "specialized");
}

/** Host tools a kernel build runs, with the Debian package of each (checked before minutes are spent). */
const BUILD_TOOLS: [string, string][] = [
  ["make", "make"],
  ["gcc", "gcc"],
  ["bc", "bc"],
  ["bison", "bison"],
  ["flex", "flex"],
  ["perl", "perl"],
  ["strip", "binutils"],
  ["dpkg-deb", "dpkg"],
  ["xz", "xz-utils"],
];
const COMPRESSOR_TOOLS: Record<string, [string, string]> = {
  KERNEL_GZIP: ["gzip", "gzip"],
  KERNEL_BZIP2: ["bzip2", "bzip2"],
  KERNEL_LZMA: ["lzma", "xz-utils"],
  KERNEL_XZ: ["xz", "xz-utils"],
  KERNEL_LZO: ["lzop", "lzop"],
  KERNEL_LZ4: ["lz4", "lz4"],
  KERNEL_ZSTD: ["zstd", "zstd"],
};
/** objtool, which x86-64 builds always run, compiles against libelf. */
const LIBELF_HEADER = "/usr/include/libelf.h";

/** Fail at once, naming every missing tool and its package, rather than minutes into make. */
export async function checkBuildTools(symbols: readonly string[], env?: NodeJS.ProcessEnv): Promise<void> {
  const plan = configPlan(normalizeSymbols(symbols));
  const tools = [...BUILD_TOOLS];
  for (const s of plan.enable) {
    const t = COMPRESSOR_TOOLS[s];
    if (t) tools.push(t);
  }
  const path = (env ?? process.env).PATH ?? "";
  const missing: [string, string][] = [];
  for (const [cmd, pkg] of tools) if (!(await which(cmd, path))) missing.push([cmd, pkg]);
  if (!existsSync(LIBELF_HEADER)) missing.push([LIBELF_HEADER, "libelf-dev"]);
  if (missing.length) {
    const pkgs = [...new Set(missing.map(([, p]) => p))].sort();
    throw new KilnError(
      "KILN_ETOOL_MISSING",
      `Cannot build the specialized kernel: ${missing.map(([c]) => q(c)).join(", ")} not found`,
      `Install them: apt-get install ${pkgs.join(" ")}`,
      { details: { missing: missing.map(([tool, pkg]) => ({ tool, package: pkg })) } },
    );
  }
}

/** A fresh configure directory; ones left by kilns that died meanwhile are removed on the way. */
async function configureDir(env?: NodeJS.ProcessEnv): Promise<string> {
  const root = buildRoot(env);
  await mkdir(root, { recursive: true });
  return scratchBeside(join(root, "configure"));
}

/**
 * The final .config for a symbol set, without compiling (about 6 s; downloads the source the first time).
 * Unknown symbols fail with KILN_EKCONFIG_UNKNOWN; symbols that exist but stay off are in symbolsMissing.
 */
export async function configureSpecializedKernel(opts: {
  symbols: string[];
  progress?: Progress;
  env?: NodeJS.ProcessEnv;
}): Promise<ConfiguredKernel> {
  const symbols = normalizeSymbols(opts.symbols);
  const progress = opts.progress ?? silentProgress;
  const source = await ensureKernelSource({ env: opts.env, progress });
  const index = await loadSymbolIndex(source);
  checkKnown(symbols, index, source);
  const dir = await configureDir(opts.env);
  progress.step(`Configuring kernel (tinyconfig + ${symbols.length} symbols)`);
  try {
    const r = await configureIn(dir, source, symbols, index, opts.env);
    progress.done();
    return { source, ...r };
  } catch (e) {
    progress.fail();
    throw e;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface InfoJson {
  format: number;
  release: string;
  configHash: string;
  sourcePackage: string;
  sourceVersion: string;
  sourceDebSha256: string;
  symbols: string[];
  base: string[];
  disabled: string[];
  values: Record<string, string>;
  symbolsMissing: string[];
  missingReasons: Record<string, string>;
  bzImage: { sha256: string; size: number };
  makeLines: number;
  buildSeconds: number;
}

async function readKernel(dir: string): Promise<SpecializedKernel | undefined> {
  let info: InfoJson;
  try {
    info = JSON.parse(await readFile(join(dir, "info.json"), "utf8")) as InfoJson;
  } catch {
    return undefined;
  }
  const bzImage = join(dir, "bzImage");
  try {
    if ((await stat(bzImage)).size !== info.bzImage.size) return undefined;
  } catch {
    return undefined;
  }
  return {
    release: info.release,
    bzImage,
    configHash: info.configHash,
    config: join(dir, "config"),
    sha256: info.bzImage.sha256,
    size: info.bzImage.size,
    symbolsMissing: info.symbolsMissing,
    missingReasons: info.missingReasons,
    sourcePackage: info.sourcePackage,
    sourceVersion: info.sourceVersion,
  };
}

/** A built kernel for this symbol set, from the request index alone: no Kconfig, no make, no apt. */
export async function findSpecializedKernel(opts: {
  symbols: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<SpecializedKernel | undefined> {
  const key = requestKey(opts.symbols);
  let configHash: string;
  try {
    const entry = JSON.parse(
      await readFile(join(kernelsRoot(opts.env), "requests", `${key}.json`), "utf8"),
    ) as {
      configHash?: unknown;
    };
    if (typeof entry.configHash !== "string" || !/^[0-9a-f]{64}$/.test(entry.configHash)) return undefined;
    configHash = entry.configHash;
  } catch {
    return undefined;
  }
  return readKernel(join(kernelsRoot(opts.env), configHash));
}

/** Every built specialized kernel in KILN_HOME, by config hash (for listing and removal). */
export async function listSpecializedKernels(env?: NodeJS.ProcessEnv): Promise<SpecializedKernel[]> {
  let names: string[];
  try {
    names = (await readdir(kernelsRoot(env))).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
  } catch {
    return [];
  }
  const out: SpecializedKernel[] = [];
  for (const n of names) {
    const k = await readKernel(join(kernelsRoot(env), n));
    if (k) out.push(k);
  }
  return out;
}

async function remember(symbols: string[], configHash: string, env?: NodeJS.ProcessEnv): Promise<void> {
  await writeFileAtomic(
    join(kernelsRoot(env), "requests", `${requestKey(symbols)}.json`),
    `${JSON.stringify({ symbols, configHash }, null, 2)}\n`,
  );
}

/** Line counts of earlier builds, to turn make's output into a rough percentage. */
const DEFAULT_MAKE_LINES = 1750;

async function expectedMakeLines(env?: NodeJS.ProcessEnv): Promise<number> {
  try {
    for (const n of (await readdir(kernelsRoot(env))).sort()) {
      if (!/^[0-9a-f]{64}$/.test(n)) continue;
      const info = JSON.parse(await readFile(join(kernelsRoot(env), n, "info.json"), "utf8")) as InfoJson;
      if (info.makeLines > 0) return info.makeLines;
    }
  } catch {}
  return DEFAULT_MAKE_LINES;
}

/**
 * Build (or find) the specialized kernel for a symbol set. The first build downloads and unpacks
 * linux-source-6.1 and compiles for several minutes (~7 min on 2 cores); a symbol set built before is
 * answered from the cache without running anything. An interrupted build resumes in its build directory.
 */
export async function buildSpecializedKernel(opts: {
  symbols: string[];
  progress?: Progress;
  env?: NodeJS.ProcessEnv;
  jobs?: number;
}): Promise<SpecializedKernel> {
  const symbols = normalizeSymbols(opts.symbols);
  const hit = await findSpecializedKernel({ symbols, env: opts.env });
  if (hit) return hit;
  const progress = opts.progress ?? silentProgress;
  const env = opts.env;
  await checkBuildTools(symbols, env);
  const source = await ensureKernelSource({ env, progress });
  const index = await loadSymbolIndex(source);
  checkKnown(symbols, index, source);
  const fresh = await configureDir(env);
  progress.step(`Configuring kernel (tinyconfig + ${symbols.length} symbols)`);
  let conf: Omit<ConfiguredKernel, "source">;
  try {
    conf = await configureIn(fresh, source, symbols, index, env);
  } catch (e) {
    progress.fail();
    await rm(fresh, { recursive: true, force: true });
    throw e;
  }
  progress.done();

  const kernelDir = join(kernelsRoot(env), conf.configHash);
  const work = join(buildRoot(env), conf.configHash);
  // One build per config at a time; a second kiln waits, then finds the kernel installed.
  return withLock(
    `${work}.lock`,
    async () => {
      const existing = await readKernel(kernelDir);
      if (existing) {
        await rm(fresh, { recursive: true, force: true });
        await remember(symbols, conf.configHash, env);
        return existing;
      }
      // Resume an interrupted build of the same config, else start from the fresh configuration.
      const old = await readFile(join(work, ".config"), "utf8").catch(() => undefined);
      if (old !== undefined && configHashOf(source.version, old) === conf.configHash) {
        await rm(fresh, { recursive: true, force: true });
      } else {
        await rm(work, { recursive: true, force: true });
        await rename(fresh, work);
      }

      const jobs = opts.jobs ?? availableParallelism();
      const expected = await expectedMakeLines(env);
      const label = `Compiling kernel ${source.version} with ${jobs} job${jobs > 1 ? "s" : ""}`;
      progress.step(`${label} (0%)`);
      let shown = 0;
      const started = performance.now();
      const r = await runMake(
        ["-C", source.tree, `O=${work}`, `-j${jobs}`, "bzImage"],
        buildEnv(env),
        join(work, "kiln-build.log"),
        (n) => {
          const pct = Math.min(99, Math.floor((n / expected) * 100));
          if (pct >= shown + 10) {
            shown = pct - (pct % 10);
            progress.step(`${label} (${shown}%)`);
          }
        },
      );
      if (r.code !== 0) {
        progress.fail();
        throw new KilnError(
          "KILN_EKERNEL_BUILD",
          `Building the specialized kernel failed (make status ${r.code}):\n${r.tail.slice(-12).join("\n")}`,
          `Read the full log at ${q(join(work, "kiln-build.log"))}; check the build tools (apt-get install build-essential bc bison flex libelf-dev libssl-dev).`,
          { details: { log: join(work, "kiln-build.log"), configHash: conf.configHash } },
        );
      }
      const buildSeconds = Math.round((performance.now() - started) / 100) / 10;
      progress.done(`Compiled kernel ${source.version} in ${buildSeconds} s`);

      progress.step(`Installing kernel ${conf.configHash.slice(0, 12)}`);
      const release = (await readFile(join(work, "include", "config", "kernel.release"), "utf8")).trim();
      try {
        await buildDirAtomic(kernelDir, async (tmp) => {
          await copyFile(join(work, "arch", "x86", "boot", "bzImage"), join(tmp, "bzImage"));
          await writeFileAtomic(join(tmp, "config"), conf.configText);
          const file = async (name: string) => {
            const p = join(tmp, name);
            return { sha256: await sha256File(p), size: (await stat(p)).size };
          };
          const info: InfoJson = {
            format: PLAN_FORMAT,
            release,
            configHash: conf.configHash,
            sourcePackage: source.package,
            sourceVersion: source.version,
            sourceDebSha256: source.debSha256,
            symbols,
            base: BASE_SYMBOLS,
            disabled: BASE_DISABLED,
            values: BASE_VALUES,
            symbolsMissing: conf.symbolsMissing,
            missingReasons: conf.missingReasons,
            bzImage: await file("bzImage"),
            makeLines: r.lines,
            buildSeconds,
          };
          await writeFileAtomic(join(tmp, "info.json"), `${JSON.stringify(info, null, 2)}\n`);
        });
      } catch (e) {
        if (!(await readKernel(kernelDir))) {
          progress.fail();
          throw e;
        }
      }
      await remember(symbols, conf.configHash, env);
      await rm(work, { recursive: true, force: true });
      progress.done();
      const k = await readKernel(kernelDir);
      if (!k) throw new Error(`specialized kernel at ${kernelDir} vanished`);
      return k;
    },
    { timeoutMs: 60 * 60_000, what: `specialized kernel ${conf.configHash.slice(0, 12)}` },
  );
}
