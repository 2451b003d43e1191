import { readFile, realpath, rm, stat, symlink, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildDirAtomic } from "../core/atomic.js";
import type { KilnNote } from "../core/elf.js";
import { isKilnError, KilnError, q, usageError } from "../core/errors.js";
import { exec, which } from "../core/exec.js";
import { kilnHome, paths } from "../core/paths.js";
import { openStore } from "../core/store.js";
import { KILN_VERSION, TUPLE } from "../core/version.js";
import type { CxxRuntime } from "./cxxRuntime.js";
import type { BackingCompiler } from "./detectCompiler.js";
import { BINUTILS, type Binutil, type ToolchainLayout, toolchainLayout } from "./layout.js";
import type { Musl } from "./musl.js";
import type { ClangParts, CxxSupport, WrapperContext } from "./wrappers.js";

export interface ToolchainInfo {
  dir: string;
  tuple: string;
  /** The directory to put on PATH. */
  bin: string;
  /** Path to x86_64-kiln-linux-musl-gcc. */
  cc: string;
  backing: BackingCompiler;
  /** kiln's package prefix: the only place, besides the sysroot, where the toolchain's pkg-config looks. */
  prefix: string;
  sysroot: string;
  /** "musl 1.2.3-1" */
  libc: string;
  /** What the note in every program made by this toolchain says. */
  note: KilnNote;
  cmakeToolchainFile: string;
  mesonCrossFile: string;
  kilnVersion: string;
  /** C++: the x86_64-kiln-linux-musl-g++ wrapper and how it stands. */
  cxx: ToolchainCxx;
}

export interface ToolchainCxx {
  /** ready: the runtime is built; on-first-use: the g++ wrapper builds it when first run; unavailable: refuses. */
  state: CxxSupport["state"];
  /** Path to x86_64-kiln-linux-musl-g++. */
  compiler: string;
  /** g++ or clang++ beside the backing compiler. */
  driver?: string;
  /** "libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)", when ready. */
  runtime?: string;
  runtimeDir?: string;
  license?: string;
  /** What the note in C++ programs says, when ready. */
  note?: KilnNote;
  /** Why not, when unavailable. */
  why?: string;
}

/** toolchain.json: the ToolchainInfo plus what tells whether the directory is still current. */
interface ToolchainRecord extends ToolchainInfo {
  schema: 1;
  /** Identity of the backing compiler binary and of musl's libc.a when the directory was written. */
  fingerprint: string;
}

export interface WriteToolchainOptions {
  cc?: string;
  dir?: string;
  force?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * The default toolchain (KILN_HOME/toolchains/default), written when missing or out of date: made by
 * another kiln version, over a compiler binary that has changed since, or over another compiler than
 * the one asked for (`cc`, else $CC; with neither, whichever compiler the directory was made with).
 * The current case is a read of toolchain.json and two stats.
 */
export async function ensureToolchain(
  opts: { cc?: string; env?: NodeJS.ProcessEnv; system?: boolean } = {},
): Promise<ToolchainInfo> {
  const env = opts.env ?? process.env;
  const dir = paths.defaultToolchain(env);
  const wanted = opts.cc ?? (env.CC || undefined);
  if (!wanted && opts.system !== false && !(await exists(dir))) {
    const sys = await systemToolchain();
    if (sys) return sys;
  }
  const current = async () => {
    const rec = await readRecord(dir);
    if (!rec || rec.kilnVersion !== KILN_VERSION || rec.prefix !== prefixFor(env)) return { rec, ok: false };
    if (wanted) {
      const path = await which(wanted, env.PATH ?? "");
      if (path !== rec.backing.path) return { rec, ok: false };
    }
    if (!(await cxxCurrent(rec, env))) return { rec, ok: false };
    return { rec, ok: (await fingerprint(rec.backing.path)) === rec.fingerprint };
  };
  const first = await current();
  if (first.ok) return publicInfo(first.rec!);
  try {
    // Without a compiler asked for, an out-of-date directory is rewritten over the compiler it was made with.
    const cc = wanted ?? first.rec?.backing.path;
    return await writeToolchain({ cc, dir, force: first.rec !== undefined || (await exists(dir)), env });
  } catch (e) {
    // Another kiln wrote it at the same moment: take theirs if it is what we wanted.
    if (isKilnError(e) && e.code === "KILN_ETOOLCHAIN_EXISTS") {
      const again = await current();
      if (again.ok) return publicInfo(again.rec!);
    }
    throw e;
  }
}

/** Where the toolchain package (`kiln toolchain --deb`) installs the toolchain. */
export const SYSTEM_TOOLCHAIN_DIR = "/usr/lib/kiln/toolchain";

/**
 * The toolchain a distribution installed (kiln's toolchain .deb), when it was made by this kiln version and
 * over the compiler and musl this host has now: then kiln uses it, and writes none of its own. A user's
 * KILN_HOME toolchain, when there is one, or $CC, takes precedence.
 */
export async function systemToolchain(): Promise<ToolchainInfo | undefined> {
  const rec = await readRecord(SYSTEM_TOOLCHAIN_DIR);
  if (!rec || rec.dir !== SYSTEM_TOOLCHAIN_DIR || rec.kilnVersion !== KILN_VERSION) return undefined;
  if ((await fingerprint(rec.backing.path)) !== rec.fingerprint) return undefined;
  if (
    rec.cxx?.state === "ready" &&
    !(await exists(join(rec.cxx.runtimeDir ?? "/nonexistent", "lib", "libstdc++.a")))
  )
    return undefined;
  return publicInfo(rec);
}

/**
 * Write a toolchain directory over a backing gcc or clang. An existing directory is left alone: when it
 * is the same toolchain (same compiler, kiln version, prefix) it is returned as it is; otherwise this is
 * KILN_ETOOLCHAIN_EXISTS unless `force`. The directory is built beside its place, checked by compiling,
 * linking and running a program with it, and moved in with one rename, so a failure leaves nothing.
 */
export async function writeToolchain(opts: WriteToolchainOptions): Promise<ToolchainInfo> {
  return (await writeToolchainDetailed(opts)).info;
}

/** writeToolchain, also saying whether it wrote the directory or found the same toolchain there. */
export async function writeToolchainDetailed(
  opts: WriteToolchainOptions,
): Promise<{ info: ToolchainInfo; written: boolean }> {
  const env = opts.env ?? process.env;
  const dir = resolve(opts.dir ?? paths.defaultToolchain(env));
  checkDirPath(dir);
  const { detectCompiler } = await import("./detectCompiler.js");
  const { findMusl } = await import("./musl.js");
  const backing = await detectCompiler(opts.cc ?? (env.CC || "gcc"), env);
  const musl = await findMusl(env);
  const prefix = prefixFor(env);
  checkDirPath(prefix);
  const fp = await fingerprint(backing.path);

  const existing = await readRecord(dir);
  if (!opts.force && (existing || (await exists(dir)))) {
    if (
      existing &&
      existing.dir === dir &&
      existing.kilnVersion === KILN_VERSION &&
      existing.backing.path === backing.path &&
      existing.fingerprint === fp &&
      existing.prefix === prefix &&
      (await cxxCurrent(existing, env))
    ) {
      return { info: publicInfo(existing), written: false };
    }
    throw existsError(dir);
  }

  const { findCxxRuntime } = await import("./cxxRuntime.js");
  const runtime = await findCxxRuntime({ musl, env });
  const parts = await toolchainParts(backing, musl, prefix, fp, env, { runtime, home: kilnHome(env) });
  const record = (root: string) => recordFor(root, parts);
  const fill = async (target: string, root: string) =>
    fillDir(target, await ctxFor(root, parts), parts.note, record(root));
  const note = parts.note;

  try {
    await buildDirAtomic(
      dir,
      async (tmp) => {
        // Files name their own absolute paths. Render them for the temporary place to test the toolchain
        // there, then again for the final place just before the rename.
        await fill(tmp, tmp);
        await selfTest(toolchainLayout(tmp), note, env, parts.cxxNote);
        await fill(tmp, dir);
      },
      { replace: opts.force === true },
    );
  } catch (e) {
    if (isKilnError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTEMPTY" || code === "EEXIST") throw existsError(dir);
    throw new KilnError(
      "KILN_ETOOLCHAIN_WRITE",
      `Cannot write the toolchain to ${q(dir)}: ${(e as Error).message}`,
      "Choose a writable directory with --dir (its parent must be a directory you can write).",
      { cause: e },
    );
  }
  return { info: publicInfo(record(dir)), written: true };
}

/**
 * `kiln toolchain --cxx`: build the C++ runtime if it is not built (minutes, once per KILN_HOME), then write
 * the toolchain at `dir` (default: the default toolchain) with C++, over the compiler it was made with
 * unless `cc` names another. The g++ wrapper of a toolchain without the runtime runs this on first use;
 * concurrent ones (make -j) wait for one build and one rewrite.
 */
export async function writeToolchainWithCxx(
  opts: WriteToolchainOptions & { progress?: import("../core/progress.js").Progress },
): Promise<{ info: ToolchainInfo; written: boolean; runtime: CxxRuntime }> {
  const env = opts.env ?? process.env;
  const dir = resolve(opts.dir ?? paths.defaultToolchain(env));
  checkDirPath(dir);
  const { findMusl } = await import("./musl.js");
  const { ensureCxxRuntime } = await import("./cxxRuntime.js");
  const runtime = await ensureCxxRuntime({
    musl: await findMusl(env),
    env,
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  const { withLock } = await import("../core/lockFile.js");
  return withLock(
    `${dir}.lock`,
    async () => {
      const rec = await readRecord(dir);
      const cc = opts.cc ?? (env.CC || undefined) ?? rec?.backing.path;
      const r = await writeToolchainDetailed({
        ...opts,
        dir,
        env,
        ...(cc ? { cc } : {}),
        force:
          opts.force || (rec !== undefined && !(rec.cxx?.state === "ready" && (await cxxCurrent(rec, env)))),
      });
      return { ...r, runtime };
    },
    { timeoutMs: 10 * 60_000, what: `toolchain ${dir}` },
  );
}

/** Everything a toolchain directory is made of, found once on the host. */
interface ToolchainParts {
  backing: BackingCompiler;
  musl: Musl;
  prefix: string;
  fingerprint: string;
  note: KilnNote;
  clang?: ClangParts;
  tools: Partial<Record<Binutil, string>>;
  pkgConfig?: string;
  /** C++: the runtime's directories when built; the driver and KILN_HOME to build it with otherwise. */
  cxx:
    | {
        state: "ready";
        driver: string;
        runtime: CxxRuntime;
        include: string[];
        lib: string;
        /** A copy inside the toolchain directory (c++/), at each rendering's own root. */
        packaged?: boolean;
      }
    | { state: "on-first-use"; driver: string; home: string }
    | { state: "unavailable"; why: string; hint: string };
  cxxNote?: KilnNote;
}

async function toolchainParts(
  backing: BackingCompiler,
  musl: Musl,
  prefix: string,
  fingerprint: string,
  env: NodeJS.ProcessEnv,
  c: { runtime?: CxxRuntime; packaged?: boolean; home?: string },
): Promise<ToolchainParts> {
  const note: KilnNote = {
    tuple: TUPLE,
    libc: musl.libc,
    toolchain: `kiln ${KILN_VERSION} (${backing.kind} ${backing.version})`,
  };
  const clang = backing.kind === "clang" ? await clangParts(backing, env) : undefined;
  const tools = await findBinutils(backing, clang?.lld, env);
  const pkgConfig = await which("pkg-config", env.PATH ?? "");
  const cxx = await cxxParts(backing, env, c);
  return {
    backing,
    musl,
    prefix,
    fingerprint,
    note,
    ...(clang ? { clang } : {}),
    tools,
    ...(pkgConfig ? { pkgConfig } : {}),
    cxx,
    ...(cxx.state === "ready" ? { cxxNote: { ...note, cxx: cxx.runtime.label } } : {}),
  };
}

/** g++ beside gcc (gcc-12: g++-12), clang++ beside clang. */
async function cxxDriverFor(backing: BackingCompiler, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dir = backing.path.slice(0, backing.path.lastIndexOf("/") + 1);
  const base = backing.path.slice(dir.length);
  const name =
    backing.kind === "gcc"
      ? base.replace(/gcc(?=[^/]*$)/, "g++")
      : base.replace(/clang(?=[^/]*$)/, "clang++");
  if (name === base) return undefined;
  return which(`${dir}${name}`, env.PATH ?? "");
}

async function cxxParts(
  backing: BackingCompiler,
  env: NodeJS.ProcessEnv,
  c: { runtime?: CxxRuntime; packaged?: boolean; home?: string },
): Promise<ToolchainParts["cxx"]> {
  const driver = await cxxDriverFor(backing, env);
  if (!driver) {
    const pkg = backing.kind === "gcc" ? backing.path.replace(/^.*\/(?:[^/]*-)?gcc/, "g++") : "clang";
    return {
      state: "unavailable",
      why: `C++ needs ${backing.kind === "gcc" ? "g++" : "clang++"} beside ${backing.path}, and there is none`,
      hint: `install it (\`apt-get install ${pkg}\`), then run \`kiln toolchain --cxx --force\``,
    };
  }
  if (c.runtime) {
    return {
      state: "ready",
      driver,
      runtime: c.runtime,
      include: c.runtime.include,
      lib: c.runtime.lib,
      ...(c.packaged ? { packaged: true } : {}),
    };
  }
  const { findCxxBuilder } = await import("./cxxRuntime.js");
  if (c.home && (await findCxxBuilder(env))) return { state: "on-first-use", driver, home: c.home };
  return {
    state: "unavailable",
    why: "the C++ runtime (libstdc++ for musl) is not built, and no g++ 12 is installed to build it",
    hint: "install g++ 12 (`apt-get install g++-12`), then run `kiln toolchain --cxx`",
  };
}

/** The command line of this kiln (node and bin/kiln.js), for wrappers that call back into it. */
function kilnCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL("../../bin/kiln.js", import.meta.url))];
}

/** A recorded toolchain is current for C++ when its runtime is still there, or none was built since. */
async function cxxCurrent(rec: ToolchainRecord, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (!rec.cxx) return false;
  if (rec.cxx.state === "ready")
    return exists(join(rec.cxx.runtimeDir ?? "/nonexistent", "lib", "libstdc++.a"));
  if (rec.cxx.state === "unavailable" && rec.cxx.why?.includes("beside")) return true;
  // Built meanwhile (by `kiln toolchain --cxx` for another toolchain directory)?
  if (!(await exists(join(paths.toolchains(env), "c++-runtime", "requests")))) return true;
  const { findCxxRuntime } = await import("./cxxRuntime.js");
  const { findMusl } = await import("./musl.js");
  return (await findCxxRuntime({ musl: await findMusl(env), env })) === undefined;
}

function recordFor(root: string, p: ToolchainParts): ToolchainRecord {
  const l = toolchainLayout(root);
  return {
    schema: 1,
    dir: root,
    tuple: TUPLE,
    bin: l.bin,
    cc: l.tool("gcc"),
    backing: p.backing,
    prefix: p.prefix,
    sysroot: l.sysroot,
    libc: p.musl.libc,
    note: p.note,
    cmakeToolchainFile: l.cmake,
    mesonCrossFile: l.meson,
    kilnVersion: KILN_VERSION,
    cxx: cxxInfo(l, p),
    fingerprint: p.fingerprint,
  };
}

function cxxInfo(l: ToolchainLayout, p: ToolchainParts): ToolchainCxx {
  const compiler = l.tool("g++");
  const c = p.cxx;
  if (c.state === "unavailable") return { state: c.state, compiler, why: c.why };
  if (c.state === "on-first-use") return { state: c.state, compiler, driver: c.driver };
  return {
    state: c.state,
    compiler,
    driver: c.driver,
    runtime: c.runtime.label,
    runtimeDir: c.packaged ? l.cxxRuntime : c.runtime.dir,
    license: c.runtime.license,
    ...(p.cxxNote ? { note: p.cxxNote } : {}),
  };
}

/** The C++ runtime's header and library directories as a toolchain rendered at `root` names them. */
async function cxxDirsAt(
  root: string,
  c: ToolchainParts["cxx"],
): Promise<{ include: string[]; lib: string }> {
  if (c.state !== "ready") return { include: [], lib: "" };
  if (!c.packaged) return { include: c.include, lib: c.lib };
  const { runtimeDirs } = await import("./cxxRuntime.js");
  return runtimeDirs(toolchainLayout(root).cxxRuntime);
}

async function ctxFor(root: string, p: ToolchainParts): Promise<FillContext> {
  const c = p.cxx;
  const dirs = await cxxDirsAt(root, c);
  const cxx: CxxSupport =
    c.state === "ready"
      ? { state: "ready", driver: c.driver, include: dirs.include, lib: dirs.lib }
      : c.state === "on-first-use"
        ? {
            state: "on-first-use",
            driver: c.driver,
            build: [...kilnCommand(), "toolchain", "--cxx", "--dir", root],
            env: { KILN_HOME: c.home },
          }
        : c;
  return {
    layout: toolchainLayout(root),
    backing: p.backing,
    musl: p.musl,
    prefix: p.prefix,
    ...(p.pkgConfig ? { pkgConfig: p.pkgConfig } : {}),
    ...(p.clang ? { clang: p.clang } : {}),
    tools: p.tools,
    cxx,
    ...(p.cxxNote ? { cxxNote: p.cxxNote } : {}),
  };
}

type FillContext = WrapperContext & {
  tools: Partial<Record<Binutil, string>>;
  cxx: CxxSupport;
  cxxNote?: KilnNote;
};

export interface StagedToolchain {
  /** The toolchain as it will be at `dir`. */
  info: ToolchainInfo;
  /** Host files the toolchain uses (compiler, binutils, musl, pkg-config): what a package depends on. */
  hostFiles: string[];
}

/**
 * Write a toolchain into the empty directory `stage` for use at `dir`, the place it will have at run time
 * (a package's install location): rendered for `stage` first and checked there by compiling and running a
 * program, then rendered again for `dir`. `prefix` replaces kiln's package prefix (KILN_HOME/prefix).
 */
export async function stageToolchain(opts: {
  stage: string;
  dir: string;
  prefix: string;
  cc?: string;
  env?: NodeJS.ProcessEnv;
  /** Build (or take) the C++ runtime and copy it into the toolchain (c++/), for a self-contained package. */
  cxx?: boolean;
  progress?: import("../core/progress.js").Progress;
}): Promise<StagedToolchain> {
  const env = opts.env ?? process.env;
  checkDirPath(opts.dir);
  checkDirPath(opts.prefix);
  const { detectCompiler } = await import("./detectCompiler.js");
  const { findMusl } = await import("./musl.js");
  const backing = await detectCompiler(opts.cc ?? (env.CC || "gcc"), env);
  const musl = await findMusl(env);
  const stage = resolve(opts.stage);
  let runtime: CxxRuntime | undefined;
  if (opts.cxx) {
    const { ensureCxxRuntime } = await import("./cxxRuntime.js");
    runtime = await ensureCxxRuntime({ musl, env, ...(opts.progress ? { progress: opts.progress } : {}) });
    const { cp } = await import("node:fs/promises");
    const to = toolchainLayout(stage).cxxRuntime;
    for (const part of ["include", "lib", "share"])
      await cp(join(runtime.dir, part), join(to, part), { recursive: true });
  }
  const parts = await toolchainParts(backing, musl, opts.prefix, await fingerprint(backing.path), env, {
    ...(runtime ? { runtime, packaged: true } : {}),
  });
  await fillDir(stage, await ctxFor(stage, parts), parts.note, recordFor(stage, parts));
  await selfTest(toolchainLayout(stage), parts.note, env);
  await fillDir(stage, await ctxFor(opts.dir, parts), parts.note, recordFor(opts.dir, parts));
  const c = parts.clang;
  const hostFiles = [
    backing.path,
    ...Object.values(parts.tools),
    join(musl.include, "stdio.h"),
    join(musl.lib, "libc.a"),
    ...(parts.pkgConfig ? [parts.pkgConfig] : []),
    ...(parts.cxx.state === "ready" ? [parts.cxx.driver] : []),
    ...(c
      ? [
          join(c.resourceInclude, "stddef.h"),
          c.crtbegin,
          c.crtend,
          c.libgcc,
          ...(c.libgccEh ? [c.libgccEh] : []),
          ...(c.lld ? [c.lld] : []),
        ]
      : []),
  ];
  return { info: publicInfo(recordFor(opts.dir, parts)), hostFiles: [...new Set(hostFiles)] };
}

/** The toolchain recorded in a directory, or KILN_ETOOLCHAIN_MISSING. */
export async function readToolchain(dir: string): Promise<ToolchainInfo> {
  const rec = await readRecord(resolve(dir));
  if (!rec) {
    throw new KilnError(
      "KILN_ETOOLCHAIN_MISSING",
      `No kiln toolchain in ${q(dir)}`,
      `Write one with \`kiln toolchain --dir ${dir}\`.`,
    );
  }
  return publicInfo(rec);
}

function prefixFor(env: NodeJS.ProcessEnv): string {
  return join(kilnHome(env), "prefix");
}

function existsError(dir: string): KilnError {
  return new KilnError(
    "KILN_ETOOLCHAIN_EXISTS",
    `Cannot write the toolchain to ${q(dir)}: it exists and holds something else`,
    "Add --force to replace it, or choose another --dir.",
  );
}

function checkDirPath(dir: string): void {
  // ':' would split PATH and PKG_CONFIG_LIBDIR; control characters cannot be written safely into scripts;
  // Meson machine files cannot hold three single quotes in a row.
  if (!isAbsolute(dir) || /[:\0-\x1f\x7f]|'''/.test(dir)) {
    throw usageError(
      "KILN_ETOOLCHAIN_PATH",
      `Cannot use ${q(dir)} as a toolchain directory: it holds ':', a control character or quotes kiln cannot write`,
      "Choose a directory path without ':', control characters or three quotes in a row.",
    );
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function fingerprint(compiler: string): Promise<string> {
  const id = async (p: string) => {
    try {
      const real = await realpath(p);
      const s = await stat(real);
      return `${real}@${s.size}@${Math.trunc(s.mtimeMs)}`;
    } catch {
      return `${p}@missing`;
    }
  };
  const { MUSL_LIB } = await import("./musl.js");
  return `${await id(compiler)};${await id(join(MUSL_LIB, "libc.a"))}`;
}

async function readRecord(dir: string): Promise<ToolchainRecord | undefined> {
  let rec: ToolchainRecord;
  try {
    rec = JSON.parse(await readFile(join(dir, "toolchain.json"), "utf8")) as ToolchainRecord;
  } catch {
    return undefined;
  }
  if (rec?.schema !== 1 || typeof rec.dir !== "string" || typeof rec.backing?.path !== "string")
    return undefined;
  return rec;
}

function publicInfo(rec: ToolchainRecord): ToolchainInfo {
  const { schema: _s, fingerprint: _f, ...info } = rec;
  return info;
}

/** Ask clang where its own headers are and where the host gcc's crt files and libgcc live. */
async function clangParts(backing: BackingCompiler, env: NodeJS.ProcessEnv) {
  const ask = async (arg: string) =>
    (await exec(backing.path, [arg], { env, timeoutMs: 20_000 })).stdout.trim();
  const file = async (name: string, required: boolean) => {
    const p = await ask(`-print-file-name=${name}`);
    if (isAbsolute(p) && (await exists(p))) return resolve(p);
    if (!required) return undefined;
    throw new KilnError(
      "KILN_ETOOLCHAIN_DEPS",
      `Cannot build a kiln toolchain on ${q(backing.path)}: clang finds no ${q(name)}`,
      "clang links with the host gcc's crt files and libgcc: `apt-get install gcc` (or libgcc-12-dev).",
    );
  };
  const resourceDir = await ask("-print-resource-dir");
  const libgcc = (await ask("-print-libgcc-file-name")) || "libgcc.a";
  if (!isAbsolute(libgcc) || !(await exists(libgcc))) await file("libgcc.a", true);
  return {
    resourceInclude: join(resourceDir, "include"),
    crtbegin: (await file("crtbeginT.o", true))!,
    crtend: (await file("crtend.o", true))!,
    libgcc: resolve(libgcc),
    libgccEh: await file("libgcc_eh.a", false),
    lld: await which("ld.lld", env.PATH ?? ""),
  };
}

/** Host binutils to link as the toolchain's own: GNU for gcc; LLVM's when clang has them, GNU otherwise. */
async function findBinutils(
  backing: BackingCompiler,
  lld: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<Partial<Record<Binutil, string>>> {
  const PATH = env.PATH ?? "";
  const out: Partial<Record<Binutil, string>> = {};
  for (const tool of BINUTILS) {
    const names =
      tool === "ld"
        ? backing.kind === "clang" && lld
          ? ["ld.lld"]
          : ["ld.bfd", "ld"]
        : tool === "as" || backing.kind === "gcc"
          ? [tool]
          : [`llvm-${tool}`, tool];
    for (const n of names) {
      const found = await which(n, PATH);
      if (found) {
        out[tool] = found;
        break;
      }
    }
  }
  return out;
}

async function fillDir(
  target: string,
  ctx: FillContext,
  note: KilnNote,
  record: ToolchainRecord,
): Promise<void> {
  const { mkdir } = await import("node:fs/promises");
  const { compilerScripts, pkgConfigScript, refusingScript } = await import("./wrappers.js");
  const { gccSpecs } = await import("./gccSpecs.js");
  const { kilnNoteAsm } = await import("./kilnNote.js");
  const { cmakeToolchainFile, mesonCrossFile } = await import("./buildSystemFiles.js");
  // Paths inside the files use ctx.layout (the directory's final or test place); they are written to `target`.
  const at = toolchainLayout(target);
  const to = (p: string) => join(target, p.slice(ctx.layout.root.length));
  await mkdir(at.bin, { recursive: true });
  await mkdir(at.lib, { recursive: true });
  await mkdir(join(at.sysroot, "usr"), { recursive: true });

  const { DL_FIND_OBJECT_C } = await import("./dlFindObject.js");
  const L = ctx.layout;
  if (ctx.backing.kind === "gcc") {
    await writeFile(
      at.specs,
      gccSpecs(ctx.musl, { noteObject: L.noteObject, runtimeLib: L.runtimeLib, prefix: ctx.prefix }),
    );
    if (ctx.cxx.state === "ready") {
      const cxx = { include: ctx.cxx.include, lib: ctx.cxx.lib };
      await writeFile(
        at.cxxSpecs,
        gccSpecs(ctx.musl, {
          noteObject: L.cxxNoteObject,
          runtimeLib: L.runtimeLib,
          prefix: ctx.prefix,
          cxx,
        }),
      );
    }
  }
  // Built once, with the backing compiler itself (the wrappers may not be at their final place yet).
  const compile = async (args: string[], what: string) => {
    const flags =
      ctx.backing.kind === "clang"
        ? [
            "--target=x86_64-linux-musl",
            "-nostdinc",
            "-isystem",
            ctx.musl.include,
            "-isystem",
            ctx.clang!.resourceInclude,
          ]
        : [`-specs=${at.specs}`];
    const r = await exec(ctx.backing.path, [...flags, ...args], { check: false, timeoutMs: 60_000 });
    if (r.code !== 0) {
      throw new KilnError(
        "KILN_ETOOLCHAIN_BROKEN",
        `Cannot build ${what} with ${q(ctx.backing.path)}: status ${r.code}\n${r.stderr.trim().split("\n").slice(-6).join("\n")}`,
        "Check that the compiler works (compile a small C file with it); `kiln doctor` lists what kiln needs.",
      );
    }
  };
  const assemble = async (n: KilnNote, source: string, object: string) => {
    if (await exists(object)) return;
    await writeFile(source, kilnNoteAsm(n));
    await compile(["-c", source, "-o", object], "the kiln note");
  };
  await assemble(note, at.noteSource, at.noteObject);
  if (ctx.cxxNote) await assemble(ctx.cxxNote, at.cxxNoteSource, at.cxxNoteObject);
  if (!(await exists(at.runtimeLib))) {
    const obj = join(at.lib, "kiln-dl-find-object.o");
    await writeFile(at.runtimeSource, DL_FIND_OBJECT_C);
    await compile(["-O2", "-fno-ident", "-c", at.runtimeSource, "-o", obj], "kiln's _dl_find_object");
    const ar = ctx.tools.ar ?? "ar";
    const r = await exec(ar, ["rcsD", at.runtimeLib, obj], { check: false, timeoutMs: 60_000 });
    if (r.code !== 0) {
      throw new KilnError(
        "KILN_ETOOLCHAIN_BROKEN",
        `Cannot make ${q(at.runtimeLib)} with ${q(ar)}: status ${r.code}\n${r.stderr.trim()}`,
        "Check that binutils are installed (`apt-get install binutils`).",
      );
    }
    await rm(obj);
  }

  const replaceLink = async (linkTarget: string, path: string) => {
    await rm(path, { force: true });
    await symlink(linkTarget, path);
  };
  for (const [name, text] of compilerScripts(ctx))
    await writeFile(to(ctx.layout.tool(name)), text, { mode: 0o755 });
  await writeFile(to(ctx.layout.tool("pkg-config")), pkgConfigScript(ctx), { mode: 0o755 });
  for (const tool of BINUTILS) {
    const found = ctx.tools[tool];
    const path = to(ctx.layout.tool(tool));
    if (found) await replaceLink(found, path);
    else {
      await rm(path, { force: true });
      await writeFile(
        path,
        refusingScript(
          tool,
          "KILN_ETOOL_MISSING",
          `no ${tool} was found when this toolchain was written`,
          "install binutils (`apt-get install binutils`), then run `kiln toolchain --force`",
          127,
        ),
        { mode: 0o755 },
      );
    }
  }
  await replaceLink(ctx.musl.include, join(at.sysroot, "usr", "include"));
  await replaceLink(ctx.musl.lib, join(at.sysroot, "usr", "lib"));
  await writeFile(at.cmake, cmakeToolchainFile(ctx.layout, ctx.prefix));
  await writeFile(at.meson, mesonCrossFile(ctx.layout));
  await writeFile(at.json, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Compile, link (with --gc-sections) and run a program with the new toolchain before it goes in place;
 * with C++, also one that throws an exception through a function and catches it (libstdc++, the unwinder
 * and kiln's `_dl_find_object` together).
 */
async function selfTest(
  layout: ToolchainLayout,
  note: KilnNote,
  env: NodeJS.ProcessEnv,
  cxxNote?: KilnNote,
): Promise<void> {
  const { readElf, readKilnNote } = await import("../core/elf.js");
  return openStore(env).withTmpDir(async (work) => {
    const fail = (why: string) =>
      new KilnError(
        "KILN_ETOOLCHAIN_BROKEN",
        `The new toolchain cannot build a program: ${why}`,
        "Check that the backing compiler works and that musl-dev is installed (`apt-get install musl-tools musl-dev`).",
      );
    const check = async (tool: string, name: string, text: string, want: KilnNote) => {
      const src = join(work, name);
      const exe = join(work, "check");
      await writeFile(src, text);
      const cc = await exec(layout.tool(tool), ["-O2", "-Wl,--gc-sections", src, "-o", exe], {
        check: false,
        env,
        timeoutMs: 120_000,
      });
      if (cc.code !== 0)
        throw fail(`${tool} exited with ${cc.code}:\n${cc.stderr.trim().split("\n").slice(-6).join("\n")}`);
      const run = await exec(exe, [], { check: false, timeoutMs: 30_000 });
      if (run.code !== 0 || run.stdout !== "kiln toolchain check\n")
        throw fail(`the ${tool} program printed ${q(run.stdout)}`);
      const info = await readElf(exe);
      if (!info.isStatic) throw fail(`the ${tool} program is not static`);
      const got = readKilnNote(info);
      if (JSON.stringify(got) !== JSON.stringify(want))
        throw fail(`the ${tool} program's kiln note is ${q(JSON.stringify(got))}`);
    };
    await check(
      "gcc",
      "check.c",
      '#include <stdio.h>\nint main(void) { puts("kiln toolchain check"); return 0; }\n',
      note,
    );
    if (cxxNote) {
      await check(
        "g++",
        "check.cc",
        '#include <cstdio>\n#include <stdexcept>\nstatic void f(int x) { if (x) throw std::runtime_error("kiln toolchain check"); }\nint main(int argc, char **) { try { f(argc); } catch (const std::exception &e) { std::puts(e.what()); return 0; } return 1; }\n',
        cxxNote,
      );
    }
  });
}
