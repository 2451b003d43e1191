/**
 * Turn what the user points `kiln run` at into one program built by the kiln toolchain: a `.c` file, a
 * project directory (configure/configure.ac, CMakeLists.txt, meson.build or Makefile) or a program already
 * built. Directories are built in a copy under the cache, keyed by the digest of their files, so the user's
 * tree stays clean and an unchanged tree is not built twice.
 */

import { cp, lstat, readdir, readFile, readlink, stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, extname, join, relative, resolve } from "node:path";
import { buildDirAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { parseElf, readKilnNote } from "../core/elf.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { exec } from "../core/exec.js";
import { missingOr } from "../core/fsError.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { KILN_VERSION, TUPLE } from "../core/version.js";
import { runBuildSystem } from "../toolchain/buildSystem.js";
import type { ToolchainInfo } from "../toolchain/toolchain.js";

export type TargetKind = "c" | "autotools" | "cmake" | "meson" | "make" | "program";

export interface BuiltTarget {
  kind: TargetKind;
  program: string;
  /** True when the build was found in the cache. */
  cached: boolean;
  /** The project directory (for its kiln.toml), when the target is one. */
  projectDir?: string;
}

const SKIP = new Set([".git", "node_modules", ".kiln"]);

/**
 * Digest of a tree: relative paths, modes and contents, in sorted order; symlinks by their targets, as the
 * build's copy keeps them (a link that resolved elsewhere last time must not give last time's build).
 */
async function treeDigest(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      if (SKIP.has(name)) continue;
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isSymbolicLink()) parts.push(`${relative(dir, p)}\0l\0${await readlink(p)}`);
      else if (st.isDirectory()) await walk(p);
      else if (st.isFile())
        parts.push(`${relative(dir, p)}\0${st.mode & 0o111 ? "x" : "-"}\0${sha256(await readFile(p))}`);
    }
  };
  await walk(dir);
  return sha256(parts.join("\n"));
}

function detect(files: Set<string>): Exclude<TargetKind, "c" | "program"> | undefined {
  if (files.has("configure") || files.has("configure.ac")) return "autotools";
  if (files.has("CMakeLists.txt")) return "cmake";
  if (files.has("meson.build")) return "meson";
  if (files.has("Makefile") || files.has("makefile") || files.has("GNUmakefile")) return "make";
  return undefined;
}

function toolEnv(tc: ToolchainInfo, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, PATH: `${tc.bin}:${env.PATH ?? ""}`, CC: `${TUPLE}-gcc` };
}

async function runBuild(
  kind: TargetKind,
  dir: string,
  tc: ToolchainInfo,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (kind === "c" || kind === "program") throw new Error(`not a project kind: ${kind}`);
  const e = toolEnv(tc, env);
  await runBuildSystem({
    system: kind,
    dir,
    tc,
    jobs: String(availableParallelism()),
    sh: (cmd, args) => exec(cmd, args, { cwd: dir, env: e }),
  });
}

/** Programs the build produced: executables that carry the kiln note. */
async function findPrograms(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      // Links are the project's own (possibly dangling); programs are what the build wrote.
      const st = await lstat(p);
      if (st.isDirectory()) {
        if (!SKIP.has(name) && name !== "CMakeFiles") await walk(p);
      } else if (st.isFile() && st.mode & 0o111 && !name.endsWith(".so") && !name.includes(".so.")) {
        try {
          const elf = parseElf(await readFile(p), p);
          if (elf.type === "EXEC" || elf.type === "DYN") if (readKilnNote(elf)) found.push(p);
        } catch {
          // scripts and other non-ELF executables (configure, libtool) are not programs
        }
      }
    }
  };
  await walk(dir);
  return found;
}

function pick(candidates: string[], dir: string, want?: string): string {
  if (want) {
    const m = candidates.filter((c) => basename(c) === want);
    if (m.length >= 1) return m[0]!;
    throw usageError(
      "KILN_EPROGRAM_NOT_FOUND",
      `The build of ${q(dir)} made no program named ${q(want)}`,
      `It made: ${candidates.map((c) => basename(c)).join(", ") || "nothing"}.`,
    );
  }
  if (candidates.length === 1) return candidates[0]!;
  const named = candidates.filter((c) => basename(c) === basename(dir));
  if (named.length === 1) return named[0]!;
  if (candidates.length === 0) {
    throw new KilnError(
      "KILN_EBUILD_NO_PROGRAM",
      `Building ${q(dir)} made no program`,
      `Check that its build links an executable with ${TUPLE}-gcc (CC).`,
    );
  }
  throw usageError(
    "KILN_EPROGRAM_AMBIGUOUS",
    `Building ${q(dir)} made several programs: ${candidates.map((c) => q(basename(c))).join(", ")}`,
    "Say which with --program NAME (or `program` in kiln.toml [image]).",
  );
}

export async function buildTarget(
  target: string,
  tc: ToolchainInfo,
  opts: { program?: string; env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<BuiltTarget> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  const abs = resolve(target);
  const st = await stat(abs).catch((e: unknown) => {
    throw missingOr(e, target, "read", () =>
      usageError(
        "KILN_ETARGET_NOT_FOUND",
        `Cannot run ${q(target)}: no such file or directory`,
        "Give a .c file, a project directory or a program built with the kiln toolchain.",
      ),
    );
  });
  const toolKey = `${KILN_VERSION}\0${tc.backing.path}\0${tc.backing.version}`;
  if (st.isFile()) {
    if (extname(abs) === ".c") {
      const src = await readFile(abs);
      const key = sha256(`c\0${toolKey}\0${basename(abs)}\0${sha256(src)}`);
      const dir = join(paths.cache(env), "build", key);
      const program = join(dir, basename(abs, ".c"));
      if (await exists(program)) return { kind: "c", program, cached: true };
      progress.step(`compiling ${basename(abs)}`);
      await buildDirAtomic(
        dir,
        async (tmp) => {
          await exec(tc.cc, ["-Os", "-o", join(tmp, basename(abs, ".c")), abs], { env: toolEnv(tc, env) });
        },
        { replace: true },
      );
      progress.done();
      return { kind: "c", program, cached: false };
    }
    return { kind: "program", program: abs, cached: true };
  }
  if (!st.isDirectory())
    throw usageError(
      "KILN_ETARGET_NOT_FOUND",
      `Cannot run ${q(target)}: not a file or directory`,
      "Give a .c file, a project directory or a program.",
    );
  const kind = detect(new Set(await readdir(abs)));
  if (!kind) {
    throw usageError(
      "KILN_ETARGET_UNKNOWN",
      `Cannot tell how to build ${q(target)}: no configure, configure.ac, CMakeLists.txt, meson.build or Makefile`,
      "Add a Makefile that uses $(CC), or point at a .c file.",
    );
  }
  const key = sha256(`${kind}\0${toolKey}\0${await treeDigest(abs)}`);
  const dir = join(paths.cache(env), "build", key);
  let cached = true;
  if (!(await exists(join(dir, ".kiln-built")))) {
    cached = false;
    progress.step(`building ${basename(abs)} (${kind})`);
    await buildDirAtomic(
      dir,
      async (tmp) => {
        await cp(abs, tmp, { recursive: true, filter: (s) => !SKIP.has(basename(s)) });
        await runBuild(kind, tmp, tc, env);
        const { writeFile } = await import("node:fs/promises");
        await writeFile(join(tmp, ".kiln-built"), "");
      },
      { replace: true },
    );
    progress.done();
  }
  const program = pick(await findPrograms(dir), abs, opts.program);
  return { kind, program, cached, projectDir: abs };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
