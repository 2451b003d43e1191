/**
 * Bake's memo. A bake is a function of what it reads (bakes are deterministic: same inputs, same bytes).
 * When the same bake runs again (the same command, environment and kiln), every file it read is as it
 * was, and the image it wrote is still there as it left it, it would write those same bytes again: the memo
 * answers it with what it printed then (marked up to date), and writes nothing. It is asked before kiln's
 * CLI loads (src/cli/entry.ts), like --version. That is `make`'s "nothing to do", keyed
 * by identities instead of times, and what makes a warm re-bake cost little more than kiln's start.
 *
 * What a bake read is recorded as it reads (src/core/readTracker.ts), never listed by hand. Identities are
 * those of the digest cache (a write changes a file's ctime, which no user can set back), so a store
 * damaged through the file system is a changed input: the bake runs and reports KILN_ESTORE_CORRUPT.
 *
 * Not remembered: a bake that started a process (what it read is out of sight), one whose inputs changed
 * while it ran, and bakes that resolve Debian packages (the caller's rule: an archive's index changes on
 * the mirror, not on this disk). What the bake wrote itself (its image, the digest cache, the output
 * ledger, the directories it wrote into) is not an input: the image is checked whole instead.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  contentIdentity,
  type Identity,
  identityOf,
  treeIdentity as outputIdentity,
} from "../core/fileIdentity.js";
import { paths } from "../core/paths.js";
import type { Tracked } from "../core/readTracker.js";

const FORMAT = 1;
/** Memos kept (the newest written); each is about the size of the image's manifest. */
const KEEP = 64;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** What a bake answered by the memo prints: its result as the bake that ran printed it, marked up to date. */
export interface Said {
  stdout: string;
  /** The kernel choice's notice, where the bake showed one. */
  stderr: string;
}

interface MemoFile extends Said {
  v: typeof FORMAT;
  key: string;
  out: string;
  output: string;
  inputs: [string, Identity][];
}

function memoFile(key: string, env?: NodeJS.ProcessEnv): string {
  return join(paths.cache(env), "bakes", `${key}.json`);
}

/**
 * The kiln that runs: node, and kiln's startup snapshot (which holds all its code) or, started from the
 * modules, every built module. Its data files (the catalogue, kiln-init's sources) are read, so tracked.
 * Taken once a process: a bake the memo cannot answer asks for its key twice (the entry, then the CLI).
 */
let code: string | undefined;
function codeIdentity(): string {
  code ??= takeCodeIdentity();
  return code;
}

function takeCodeIdentity(): string {
  const parts = [
    process.version,
    identityOf(process.execPath),
    identityOf(join(ROOT, "package.json")),
    // The one package required at run time rather than bundled (scripts/snapshot.mjs): npm ci rewrites this.
    identityOf(join(ROOT, "node_modules", ".package-lock.json")),
  ];
  const i = process.execArgv.indexOf("--snapshot-blob");
  const blob = i >= 0 ? process.execArgv[i + 1] : undefined;
  parts.push(blob ? identityOf(resolve(blob)) : outputIdentity(join(ROOT, "dist")));
  return parts.join("\n");
}

/**
 * The memo's key: what was asked (the command's words: spelled otherwise, it is only a miss), where, by
 * whom, with which environment, of which kiln.
 */
export function bakeKey(words: readonly string[], env: NodeJS.ProcessEnv = process.env): string {
  const vars = Object.entries(env).sort(([a], [b]) => (a < b ? -1 : 1));
  return (
    createHash("sha256")
      // The umask sets the image's files' modes.
      .update(
        JSON.stringify({
          v: FORMAT,
          words,
          cwd: process.cwd(),
          uid: process.getuid?.(),
          umask: process.umask(),
          vars,
        }),
      )
      .update(codeIdentity())
      .digest("hex")
  );
}

/** What to print, when everything the bake read and the image it wrote are as they were. */
export function recallBake(key: string, env?: NodeJS.ProcessEnv): Said | undefined {
  let memo: MemoFile;
  try {
    memo = JSON.parse(readFileSync(memoFile(key, env), "utf8")) as MemoFile;
  } catch {
    return undefined;
  }
  if (memo.v !== FORMAT || memo.key !== key || typeof memo.stdout !== "string") return undefined;
  for (const [path, id] of memo.inputs) if (identityOf(path) !== id) return undefined;
  let output: string;
  try {
    output = outputIdentity(memo.out);
  } catch {
    return undefined;
  }
  if (output !== memo.output) return undefined;
  return { stdout: memo.stdout, stderr: memo.stderr ?? "" };
}

/**
 * Remember a finished bake of `out` from what tracking saw. Returns why it was not remembered, if it was not:
 * the bake's result stands either way.
 */
export async function rememberBake(
  key: string,
  out: string,
  tracked: Tracked,
  said: Said,
  env?: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (tracked.spawned.length) return `it started ${tracked.spawned.join(", ")}`;
  const abs = resolve(out);
  const wroteInto = new Set([...tracked.wrote].map((w) => dirname(w)));
  const ours = (p: string) =>
    p === abs || p.startsWith(`${abs}/`) || tracked.wrote.has(p) || wroteInto.has(p);
  // Kernel state, not files: nothing to compare by identity, and what a bake takes from there (a scratch
  // name's boot id and process start time) is not in the image.
  const state = (p: string) => /^\/(proc|sys|dev)\//.test(p);
  const inputs: [string, Identity][] = [];
  for (const [path, first] of tracked.inputs) {
    if (ours(path) || state(path)) continue;
    const now = identityOf(path);
    // Changed while baking (by someone else: links of our own move only ctimes): the image may hold either.
    if (contentIdentity(now) !== contentIdentity(first)) return `${path} changed while it was read`;
    inputs.push([path, now]);
  }
  const memo: MemoFile = { v: FORMAT, key, out: abs, output: outputIdentity(abs), inputs, ...said };
  const file = memoFile(key, env);
  const { writeFileAtomic } = await import("../core/atomic.js");
  await writeFileAtomic(file, `${JSON.stringify(memo)}\n`);
  // One per command: old ones only cost disk.
  const { keepNewest } = await import("../core/keepNewest.js");
  await keepNewest(dirname(file), { suffix: ".json", keep: KEEP });
  return undefined;
}
