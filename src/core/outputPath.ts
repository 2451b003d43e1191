/**
 * Where a verb writes what it makes (an image directory, a launchable, an SBOM, licence texts, a package):
 * never over something kiln did not make, unless the user says --force; and always whole or not at all.
 *
 * "Made by kiln" is exact, not a guess from names: when kiln puts an output in place it records the identity
 * of every file of it (device, inode, size, mtime, ctime) under cache/outputs, by path. What is at the path
 * later is kiln's only while it is still exactly that (a file the user edited, or a directory the user put
 * a file into, is theirs again). A verb may also recognise its own older outputs (bake: an image directory
 * that holds only an image). Anything else is KILN_EOUT_EXISTS, a file where a directory goes or the other
 * way round is refused even with --force (that is a wrong path, not something to replace), and a symlink
 * at the path is replaced itself with --force, never written through.
 *
 * The new output is made beside the path (under a scratch name) and moved in with rename. Over an existing
 * directory the old one is moved aside first and removed only after the new one is in place (moved back if
 * that fails), so a failure part-way leaves the old content.
 */
import { createHash } from "node:crypto";
import { lstat, mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { writeFileAtomic } from "./atomic.js";
import { q, usageError } from "./errors.js";
import { treeIdentity as identity } from "./fileIdentity.js";
import { paths } from "./paths.js";
import { scratchBeside } from "./scratchName.js";
import { testPause } from "./testPause.js";

export interface OutputOptions {
  kind: "file" | "dir";
  /** Replace what is there even if kiln did not make it (same kind, or a symlink). */
  force?: boolean;
  /** Whether what is at the path is an older output of this verb that kiln did not record. */
  recognise?: (path: string) => Promise<boolean>;
  /** Create missing parent directories; otherwise the parent must exist (a typo is refused, not created). */
  parents?: boolean;
  /** Record the output as kiln's (default); off for outputs in a work directory that goes away. */
  record?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Check that `path` may take the output; returns its absolute path. Cheap: call it before the work too. */
export async function claimOutput(path: string, opts: OutputOptions): Promise<string> {
  const abs = resolve(path);
  if (!opts.parents) {
    const parent = await stat(dirname(abs)).catch(() => undefined);
    if (!parent?.isDirectory())
      throw usageError(
        "KILN_EOUT_DIR_MISSING",
        `Cannot write ${q(path)}: the directory ${q(dirname(abs))} does not exist`,
        `Create it first (mkdir -p ${dirname(abs)}) or choose another output path.`,
      );
  }
  const st = await lstat(abs).catch(() => undefined);
  if (!st) return abs;
  if (opts.kind === "file" && st.isDirectory())
    throw usageError(
      "KILN_EOUT_IS_DIR",
      `Cannot write ${q(path)}: it is a directory`,
      "Give a file name (a new one inside that directory, if that was meant); kiln does not replace a directory with a file.",
    );
  if (opts.kind === "dir" && !st.isDirectory() && !st.isSymbolicLink())
    throw usageError(
      "KILN_EOUT_EXISTS",
      `Cannot write ${q(path)}: a file is there, and the output is a directory`,
      "Choose another path; kiln does not replace a file with a directory.",
    );
  if (opts.force) return abs;
  if (st.isDirectory() && (await readdir(abs)).length === 0) return abs;
  if (await madeByKiln(abs, opts)) return abs;
  const what = st.isSymbolicLink()
    ? "a symbolic link is there"
    : st.isDirectory()
      ? "it is a directory with files kiln did not write there (or that changed since)"
      : "a file is there that kiln did not write (or that changed since)";
  throw usageError(
    "KILN_EOUT_EXISTS",
    `Cannot write ${q(path)}: ${what}`,
    "Choose another path, or add --force to replace it.",
  );
}

/**
 * Make the output with `fill` (given a file path, or an empty directory, beside the final place) and move it
 * in. Returns what `fill` returns.
 */
export async function writeOutput<T>(
  path: string,
  opts: OutputOptions,
  fill: (tmp: string) => Promise<T>,
): Promise<T> {
  const abs = await claimOutput(path, opts);
  await mkdir(dirname(abs), { recursive: true });
  const tmp = await scratchBeside(abs);
  if (opts.kind === "dir") await mkdir(tmp);
  try {
    const r = await fill(tmp);
    await placeOutput(tmp, path, opts);
    return r;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Move a finished output (`tmp`, on the same file system) to `path`, checking the path again first. */
export async function placeOutput(tmp: string, path: string, opts: OutputOptions): Promise<void> {
  const abs = await claimOutput(path, opts);
  const st = await lstat(abs).catch(() => undefined);
  if (!st || (opts.kind === "file" && !st.isDirectory())) {
    // rename replaces a file (or a symlink's name) in one step.
    await rename(tmp, abs);
  } else {
    // A scratch name: a kiln killed right here leaves the old output aside, and the next write or
    // `kiln gc` puts it back (src/core/scratchName.ts).
    const old = `${tmp}.old`;
    await rename(abs, old);
    await testPause("atomic:old-moved-aside");
    try {
      await rename(tmp, abs);
    } catch (e) {
      await rename(old, abs).catch(() => {});
      throw e;
    }
    await rm(old, { recursive: true, force: true });
  }
  if (opts.record === false) return;
  const record = `${JSON.stringify({ path: abs, fp: identity(abs) })}\n`;
  // Only a record: without it, the next write there needs --force.
  await writeFileAtomic(ledgerFile(abs, opts.env), record).catch(() => {});
}

async function madeByKiln(abs: string, opts: OutputOptions): Promise<boolean> {
  const text = await readFile(ledgerFile(abs, opts.env), "utf8").catch(() => undefined);
  if (text) {
    try {
      const rec = JSON.parse(text) as { path?: string; fp?: string };
      if (rec.path === abs && rec.fp === identity(abs)) return true;
    } catch {
      // A damaged record proves nothing; fall through.
    }
  }
  return opts.recognise ? opts.recognise(abs) : false;
}

function ledgerFile(abs: string, env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "outputs", `${createHash("sha256").update(abs).digest("hex")}.json`);
}
