/**
 * What both ways of starting kiln do before its CLI (bin/kiln.js from the modules, scripts/snapshot.mjs's
 * entry from the startup snapshot). Kept free of the CLI's imports, so that `--version` loads nothing more.
 */
import { KILN_VERSION } from "../core/version.js";

/** A reader that closes early (`kiln --help | head`) is not an error. */
export function guardStdout(): void {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    throw e;
  });
}

/** `kiln --version` (or -V) alone, answered without the CLI: whether `words` were that, and it was printed. */
export function answeredVersion(words: readonly string[]): boolean {
  if (words.length !== 1 || (words[0] !== "--version" && words[0] !== "-V")) return false;
  process.stdout.write(`${KILN_VERSION}\n`);
  return true;
}

/**
 * `kiln bake` answered by its memo (src/bake/bakeMemo.ts) without the CLI: the same command ran before and
 * nothing it read or wrote changed since, so it prints what it printed then, marked up to date. A memo
 * that cannot be read is only a miss: the CLI bakes.
 */
export async function answeredFromMemo(words: readonly string[]): Promise<boolean> {
  if (words[0] !== "bake") return false;
  try {
    const { bakeKey, recallBake } = await import("../bake/bakeMemo.js");
    const said = recallBake(bakeKey(words));
    if (!said) return false;
    if (said.stderr) process.stderr.write(said.stderr);
    process.stdout.write(said.stdout);
    return true;
  } catch {
    return false;
  }
}
