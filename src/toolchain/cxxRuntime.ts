// The C++ runtime of the kiln toolchain: libstdc++ and libsupc++ from Debian's `gcc-12-source`, built for
// static musl programs with the host's g++ 12, once, and cached by its inputs like the specialized kernel.
//
// Cache layout (under KILN_HOME):
//   toolchains/c++-runtime/<key>/{include/c++/12,lib,info.json}   one built runtime
//   toolchains/c++-runtime/requests/<requestKey>.json              host inputs -> key
//   cache/c++-runtime-build/<key>/                                 source and build tree while building
// `key` digests everything the result depends on: kiln's recipe (configure line, the source members taken,
// Debian's patches applied), the gcc-12-source version and its .deb's digest, musl's version and libc.a,
// and the g++ that compiles it. `requestKey` is the same without the source package, which only apt knows:
// a toolchain finds its runtime with two small file reads and no apt query, and a runtime once built stays
// the answer until it is removed (as for the kernel source), so builds stay put on one source version.
//
// Measured on a 2-core machine (busy with other builds): about 2 minutes of wall time, most of it make.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join } from "node:path";
import { buildDirAtomic, writeFileAtomic } from "../core/atomic.js";
import { sha256File } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import { exec, which } from "../core/exec.js";
import { withLock } from "../core/lockFile.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { runMake } from "../core/runMake.js";
import { CXX_BUNDLED, CXX_LICENSE } from "./cxxLicense.js";
import { gccSpecs } from "./gccSpecs.js";
import type { Musl } from "./musl.js";

export const CXX_SOURCE_PACKAGE = "gcc-12-source";
const TARBALL = "./usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz";
const TOP = "gcc-12.2.0";
/** Debian's patches (from the same package) that touch libstdc++: applied, so headers match Debian's g++. */
const PATCHES = ["cuda-float128.diff"];
/** Bumped when anything below changes what is built. */
const RECIPE = 1;
const TARGET = "x86_64-linux-musl";
const CONFIGURE_ARGS = [
  `--host=${TARGET}`,
  "--build=x86_64-pc-linux-gnu",
  "--prefix=/",
  "--with-gxx-include-dir=/include/c++/12",
  "--disable-shared",
  "--enable-static",
  "--disable-multilib",
  "--disable-libstdcxx-pch",
  "--disable-nls",
  // musl has no locale data for libstdc++'s "gnu" model; "generic" knows only "C" and "POSIX".
  "--enable-clocale=generic",
  "--enable-threads=posix",
];
/**
 * Only what libstdc++'s configure and make read: libstdc++-v3 without its documentation and test cases
 * (configure needs testsuite/Makefile.in and doc's *.in templates), libgcc's thread headers, and the
 * top-level build scripts. 3,200 of the tarball's 121,000 members, 74 MB unpacked.
 */
const MEMBERS =
  /^gcc-12\.2\.0\/([^/]+|libstdc\+\+-v3\/.+|libgcc\/.+|config\/.+|include\/.+|libiberty\/.+|gcc\/(BASE-VER|DATESTAMP|DEV-PHASE))$/;
const MEMBERS_SKIPPED = /^gcc-12\.2\.0\/libstdc\+\+-v3\/(testsuite\/.+\/|doc\/.*[^n]$)/;

export interface CxxRuntime {
  /** The runtime's directory (absolute): include/c++/12 and lib/. */
  dir: string;
  /** Header directories in search order. */
  include: string[];
  /** Directory of libstdc++.a and libsupc++.a. */
  lib: string;
  name: "libstdc++";
  /** Upstream version: "12.2.0". */
  version: string;
  sourcePackage: string;
  sourceVersion: string;
  /** What a C++ program's kiln note says it carries: "libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)". */
  label: string;
  license: string;
  bundled: { name: string; license: string }[];
  key: string;
  /** The g++ that compiled it: "g++ 12.2.0 (/usr/bin/g++-12)". */
  builtWith: string;
  buildSeconds: number;
}

interface InfoJson extends Omit<CxxRuntime, "dir" | "include" | "lib"> {
  format: 1;
  recipe: number;
  sourceDebSha256: string;
  requestKey: string;
  makeLines: number;
  files: Record<string, { sha256: string; size: number }>;
}

/** The g++ 12 that builds the runtime (whatever compiler the toolchain drives C++ with later). */
export interface CxxBuilder {
  path: string;
  real: string;
  version: string;
  size: number;
}

function runtimesRoot(env?: NodeJS.ProcessEnv): string {
  return join(paths.toolchains(env), "c++-runtime");
}

function buildRoot(env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "c++-runtime-build");
}

/** g++-12, else g++ when it is version 12; undefined when neither is installed. */
export async function findCxxBuilder(env?: NodeJS.ProcessEnv): Promise<CxxBuilder | undefined> {
  const PATH = (env ?? process.env).PATH ?? "";
  for (const name of ["g++-12", "g++"]) {
    const path = await which(name, PATH);
    if (!path) continue;
    const r = await exec(path, ["-dumpfullversion"], { check: false, env, timeoutMs: 20_000 });
    const version = r.stdout.trim();
    if (r.code !== 0 || !version.startsWith("12.")) continue;
    const real = await realpath(path);
    return { path, real, version, size: (await stat(real)).size };
  }
  return undefined;
}

function digest(x: unknown): string {
  return createHash("sha256").update(JSON.stringify(x)).digest("hex");
}

/** What the runtime depends on on this host (everything but the source package). */
export async function cxxRequestKey(builder: CxxBuilder, musl: Musl): Promise<string> {
  const libc = await stat(join(musl.lib, "libc.a"));
  return digest({
    recipe: RECIPE,
    configure: CONFIGURE_ARGS,
    members: [MEMBERS.source, MEMBERS_SKIPPED.source],
    patches: PATCHES,
    musl: [musl.libc, libc.size, Math.trunc(libc.mtimeMs)],
    builder: [builder.real, builder.version, builder.size],
  });
}

async function readRuntime(dir: string): Promise<CxxRuntime | undefined> {
  let info: InfoJson;
  try {
    info = JSON.parse(await readFile(join(dir, "info.json"), "utf8")) as InfoJson;
  } catch {
    return undefined;
  }
  const lib = join(dir, "lib");
  try {
    if ((await stat(join(lib, "libstdc++.a"))).size !== info.files["lib/libstdc++.a"]?.size) return undefined;
  } catch {
    return undefined;
  }
  const {
    format: _f,
    recipe: _r,
    sourceDebSha256: _s,
    requestKey: _k,
    makeLines: _m,
    files: _x,
    ...rest
  } = info;
  return { ...rest, ...runtimeDirs(dir) };
}

/** The header and library directories inside a runtime directory (also a packaged toolchain's copy). */
export function runtimeDirs(dir: string): { dir: string; include: string[]; lib: string } {
  const inc = join(dir, "include", "c++", "12");
  return { dir, include: [inc, join(inc, TARGET), join(inc, "backward")], lib: join(dir, "lib") };
}

/** The built runtime for this host's g++ and musl, from the request index alone (no apt, no build). */
export async function findCxxRuntime(opts: {
  musl: Musl;
  builder?: CxxBuilder;
  env?: NodeJS.ProcessEnv;
}): Promise<CxxRuntime | undefined> {
  const root = runtimesRoot(opts.env);
  if (!existsSync(join(root, "requests"))) return undefined;
  const builder = opts.builder ?? (await findCxxBuilder(opts.env));
  if (!builder) return undefined;
  const rk = await cxxRequestKey(builder, opts.musl);
  try {
    const entry = JSON.parse(await readFile(join(root, "requests", `${rk}.json`), "utf8")) as {
      key?: unknown;
    };
    if (typeof entry.key !== "string" || !/^[0-9a-f]{64}$/.test(entry.key)) return undefined;
    return await readRuntime(join(root, entry.key));
  } catch {
    return undefined;
  }
}

/** Host tools the build runs, with their Debian packages (checked before minutes are spent). */
const BUILD_TOOLS: [string, string][] = [
  ["make", "make"],
  ["patch", "patch"],
  ["tar", "tar"],
  ["xz", "xz-utils"],
  ["dpkg-deb", "dpkg"],
  ["strip", "binutils"],
  ["apt-get", "apt"],
];

const DEFAULT_MAKE_LINES = 530;

/**
 * Build (or find) the C++ runtime. The first build downloads gcc-12-source (83 MB) with apt-get (no root),
 * checks it against apt's digest, unpacks libstdc++'s part of it and compiles for about two minutes; later
 * calls are answered from the cache. Concurrent kilns wait for one build.
 */
export async function ensureCxxRuntime(opts: {
  musl: Musl;
  progress?: Progress;
  env?: NodeJS.ProcessEnv;
  jobs?: number;
}): Promise<CxxRuntime> {
  const env = opts.env;
  const builder = await findCxxBuilder(env);
  if (!builder) {
    throw new KilnError(
      "KILN_ECXX_BUILD",
      `Cannot build the C++ runtime: no ${q("g++-12")} or g++ 12 on PATH`,
      "The runtime (libstdc++ from gcc-12-source) is compiled with Debian's g++ 12: `apt-get install g++-12`.",
    );
  }
  const hit = await findCxxRuntime({ musl: opts.musl, builder, env });
  if (hit) return hit;
  const progress = opts.progress ?? silentProgress;
  const path = (env ?? process.env).PATH ?? "";
  const missing: [string, string][] = [];
  for (const [cmd, pkg] of BUILD_TOOLS) if (!(await which(cmd, path))) missing.push([cmd, pkg]);
  if (missing.length) {
    throw new KilnError(
      "KILN_ETOOL_MISSING",
      `Cannot build the C++ runtime: ${missing.map(([c]) => q(c)).join(", ")} not found`,
      `Install them: apt-get install ${[...new Set(missing.map(([, p]) => p))].sort().join(" ")}`,
    );
  }
  const requestKey = await cxxRequestKey(builder, opts.musl);
  const { aptCandidate, aptDownload, aptRecord } = await import("../components/apt.js");
  const version = await aptCandidate(CXX_SOURCE_PACKAGE, env);
  const pkg = version ? await aptRecord(CXX_SOURCE_PACKAGE, version, env) : undefined;
  if (!pkg) {
    throw new KilnError(
      "KILN_ECXX_BUILD",
      `Cannot build the C++ runtime: apt knows no ${q(CXX_SOURCE_PACKAGE)}`,
      "Run `apt-get update` on a Debian 12 (bookworm) system: the runtime is built from that package.",
    );
  }
  const key = digest({ requestKey, source: [pkg.name, pkg.version, pkg.sha256] });
  const root = runtimesRoot(env);
  const dir = join(root, key);
  const work = join(buildRoot(env), key);
  const remember = () =>
    writeFileAtomic(
      join(root, "requests", `${requestKey}.json`),
      `${JSON.stringify({ key, source: `${pkg.name} ${pkg.version}` }, null, 2)}\n`,
    );
  return withLock(
    `${work}.lock`,
    async () => {
      const ready = await readRuntime(dir);
      if (ready) {
        await remember();
        return ready;
      }
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true });
      const log = join(work, "kiln-build.log");
      const fail = (what: string, tail: string[]) => {
        progress.fail();
        return new KilnError(
          "KILN_ECXX_BUILD",
          `Building the C++ runtime failed (${what}):\n${tail.slice(-12).join("\n")}`,
          `Read the full log at ${q(log)}; check the build tools (apt-get install build-essential g++-12 musl-dev).`,
          { details: { log, key } },
        );
      };

      progress.step(
        `Downloading ${pkg.name} ${pkg.version} (${(pkg.size / 1e6).toFixed(0)} MB) with apt-get for the C++ runtime`,
      );
      const deb = await aptDownload(pkg, work, env);
      const got = await sha256File(deb);
      if (got !== pkg.sha256) {
        progress.fail();
        throw new KilnError(
          "KILN_EDIGEST",
          `Downloaded ${q(basename(deb))} has sha256 ${q(got)}, but apt-cache publishes ${q(pkg.sha256)}`,
          "Run `apt-get update` and try again; if it persists, the mirror serves a wrong file.",
        );
      }
      progress.done();
      progress.step(`Unpacking libstdc++ from ${pkg.name} ${pkg.version}`);
      const src = join(work, "src");
      await unpackSource(deb, work, src, env);
      await rm(deb);
      progress.done();

      // The compilers: the host g++ 12 (and its gcc) made static musl compilers by a specs file; no kiln
      // note (the runtime is a library, not a program) and no C++ headers of the host's.
      const specs = join(work, "build.specs");
      await writeFile(specs, gccSpecs(opts.musl));
      const gcc = builder.path.replace(/g\+\+(-12)?$/, "gcc$1");
      const build = join(work, "build");
      const bdir = join(build, "libstdc++-v3");
      await mkdir(join(build, "libgcc"), { recursive: true });
      await mkdir(bdir);
      // libstdc++'s gthr.h includes the target's gthr-default.h, which a full GCC build generates in libgcc/.
      await copyFile(join(src, TOP, "libgcc", "gthr-posix.h"), join(build, "libgcc", "gthr-default.h"));
      const benv: NodeJS.ProcessEnv = {
        ...(env ?? process.env),
        LC_ALL: "C",
        TZ: "UTC",
        CC: `${gcc} -specs=${specs} -static`,
        CXX: `${builder.path} -specs=${specs} -static`,
        CFLAGS: "-O2",
        CXXFLAGS: "-O2",
      };
      delete benv.MAKEFLAGS;
      delete benv.MFLAGS;
      const started = performance.now();
      progress.step("Configuring libstdc++ for musl");
      const conf = await runMake(CONFIGURE_ARGS, benv, log, () => {}, {
        cmd: join(src, TOP, "libstdc++-v3", "configure"),
        cwd: bdir,
      });
      if (conf.code !== 0) throw fail(`configure status ${conf.code}`, conf.tail);
      progress.done();

      const jobs = opts.jobs ?? availableParallelism();
      const expected = await expectedMakeLines(env);
      const label = `Compiling libstdc++ ${builder.version.replace(/^(\d+\.\d+\.\d+).*/, "$1")} for musl with ${jobs} job${jobs > 1 ? "s" : ""} (once)`;
      progress.step(`${label} (0%)`);
      let shown = 0;
      const made = await runMake(
        ["-C", bdir, `-j${jobs}`],
        benv,
        log,
        (n) => {
          const pct = Math.min(99, Math.floor((n / expected) * 100));
          if (pct >= shown + 10) {
            shown = pct - (pct % 10);
            progress.step(`${label} (${shown}%)`);
          }
        },
        { append: true },
      );
      if (made.code !== 0) throw fail(`make status ${made.code}`, made.tail);
      const stage = join(work, "stage");
      const inst = await runMake(["-C", bdir, "install", `DESTDIR=${stage}`], benv, log, () => {}, {
        append: true,
      });
      if (inst.code !== 0) throw fail(`make install status ${inst.code}`, inst.tail);
      const buildSeconds = Math.round((performance.now() - started) / 100) / 10;
      progress.done(`Compiled the C++ runtime in ${buildSeconds} s`);

      progress.step(`Installing the C++ runtime ${key.slice(0, 12)}`);
      const upstream = (await readFile(join(src, TOP, "gcc", "BASE-VER"), "utf8")).trim();
      try {
        await buildDirAtomic(dir, async (tmp) => {
          await rename(join(stage, "include"), join(tmp, "include"));
          await mkdir(join(tmp, "lib"));
          const files: InfoJson["files"] = {};
          for (const a of ["libstdc++.a", "libsupc++.a", "libstdc++fs.a"]) {
            const to = join(tmp, "lib", a);
            await rename(join(stage, "lib", a), to);
            // Debug sections are most of the size; the archive stays deterministic (no dates, uids).
            await exec("strip", ["--strip-debug", "--enable-deterministic-archives", to], { env });
            files[`lib/${a}`] = { sha256: await sha256File(to), size: (await stat(to)).size };
          }
          // The licence texts a distributor of programs linked with it ships (and the exception).
          await mkdir(join(tmp, "share"));
          for (const f of ["COPYING3", "COPYING.RUNTIME"])
            await copyFile(join(src, TOP, f), join(tmp, "share", f));
          const info: InfoJson = {
            format: 1,
            recipe: RECIPE,
            name: "libstdc++",
            version: upstream,
            sourcePackage: pkg.name,
            sourceVersion: pkg.version,
            sourceDebSha256: pkg.sha256,
            label: `libstdc++ ${upstream} (${pkg.name} ${pkg.version})`,
            license: CXX_LICENSE,
            bundled: CXX_BUNDLED.map(({ name, license }) => ({ name, license })),
            key,
            requestKey,
            builtWith: `g++ ${builder.version} (${builder.path})`,
            buildSeconds,
            makeLines: made.lines,
            files,
          };
          await writeFile(join(tmp, "info.json"), `${JSON.stringify(info, null, 2)}\n`);
        });
      } catch (e) {
        if (!(await readRuntime(dir))) {
          progress.fail();
          throw e;
        }
      }
      await remember();
      await rm(work, { recursive: true, force: true });
      progress.done();
      const r = await readRuntime(dir);
      if (!r) throw new Error(`C++ runtime at ${dir} vanished`);
      return r;
    },
    { timeoutMs: 60 * 60_000, what: `C++ runtime ${key.slice(0, 12)}` },
  );
}

async function expectedMakeLines(env?: NodeJS.ProcessEnv): Promise<number> {
  try {
    for (const n of (await readdir(runtimesRoot(env))).sort()) {
      if (!/^[0-9a-f]{64}$/.test(n)) continue;
      const info = JSON.parse(await readFile(join(runtimesRoot(env), n, "info.json"), "utf8")) as InfoJson;
      if (info.makeLines > 0) return info.makeLines;
    }
  } catch {}
  return DEFAULT_MAKE_LINES;
}

/** libstdc++'s part of the GCC tarball inside the .deb, with Debian's libstdc++ patches applied. */
async function unpackSource(deb: string, work: string, src: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const tarball = join(work, "gcc.tar.xz");
  const sh = (script: string, ...args: string[]) =>
    exec("bash", ["-c", `set -euo pipefail; ${script}`, "kiln-cxx", ...args], { env, cwd: work });
  await sh('dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" > "$3"', deb, TARBALL, tarball);
  const patches = join(work, "patches");
  await mkdir(patches);
  for (const p of PATCHES)
    await sh(
      'dpkg-deb --fsys-tarfile "$1" | tar -xOf - "$2" > "$3"',
      deb,
      `./usr/src/gcc-12/debian/patches/${p}`,
      join(patches, p),
    );
  const list = (await exec("tar", ["-tJf", tarball], { env })).stdout
    .split("\n")
    .filter((m) => MEMBERS.test(m) && !MEMBERS_SKIPPED.test(m) && !m.endsWith("/"));
  if (!list.includes(`${TOP}/libstdc++-v3/configure`)) {
    throw new KilnError(
      "KILN_ECXX_BUILD",
      `${q(basename(deb))} did not hold ${q(`${TOP}/libstdc++-v3`)} in ${q(TARBALL)}`,
      "The package layout changed; report it to the kiln developers.",
    );
  }
  await writeFile(join(work, "members.txt"), `${list.join("\n")}\n`);
  await mkdir(src);
  // GNU tar on a digest-checked file: it drops leading '/' and refuses '..' members.
  await exec(
    "tar",
    ["-xJf", tarball, "-C", src, "--no-same-owner", "--no-recursion", "-T", join(work, "members.txt")],
    {
      env,
    },
  );
  await rm(tarball);
  for (const p of PATCHES)
    await exec("patch", ["-s", "-p2", "-d", join(src, TOP), "-i", join(patches, p)], { env });
}
