/**
 * `--firewall FILE`: an nftables ruleset baked into an image, loaded at boot by Debian's own nft (a setup
 * step, before anything runs). Checked here, at bake, by that same nft (`nft -c -f`): nft parses and
 * evaluates the ruleset and the kernel checks the batch without committing it. The check runs in a scratch
 * network namespace of its own user namespace (`unshare -rn`), so it needs no privilege and sees none of the
 * host's ruleset. Resolving nft is src/pkg's work (a Debian program with its shared-library closure), which is
 * why this sits above bake.
 */
import { dirname, resolve } from "node:path";
import type { ProgramInput } from "../bake/bake.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { exec } from "../core/exec.js";
import type { Progress } from "../core/progress.js";
import { readUserFile } from "../core/userFile.js";

export const NFT_PACKAGE = "deb:nftables";
export const NFT_PATH = "/usr/sbin/nft";

export interface NftProblem {
  line: number;
  column: number;
  message: string;
  /** The ruleset's line as nft quotes it. */
  source?: string;
}

/**
 * nft's first error for `file`: `FILE:LINE:COL-COL: Error: MESSAGE`, then the line and a caret. Errors without
 * a position (the kernel refusing the whole batch) come back at line 0.
 */
export function parseNftErrors(stderr: string, file: string): NftProblem | undefined {
  const lines = stderr.split("\n");
  for (const [i, l] of lines.entries()) {
    if (!l.startsWith(`${file}:`)) continue;
    const m = /^:(\d+):(\d+)(?:-\d+)?: Error: (.*)$/.exec(l.slice(file.length));
    if (!m) continue;
    const source = lines[i + 1];
    return {
      line: Number(m[1]),
      column: Number(m[2]),
      message: m[3]!,
      ...(source?.trim() ? { source } : {}),
    };
  }
  const any = lines.find((l) => /Error: /.test(l));
  return any ? { line: 0, column: 0, message: any.replace(/^.*?Error: /, "") } : undefined;
}

/** Debian's nft with its closure, as the image's first setup step (bake puts its arguments). */
export async function resolveNft(
  opts: { env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<ProgramInput> {
  const { resolveDebProgram } = await import("../pkg/debProgram.js");
  const r = await resolveDebProgram(NFT_PACKAGE, {
    program: NFT_PATH,
    catalogue: false,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  return { src: r.program.src, dest: r.program.dest, mode: "setup", files: r.files, packages: r.packages };
}

/**
 * Check `file` with `nft` (a resolved ProgramInput): run on this host through the closure's own dynamic
 * loader, so the check uses the very nft the image boots with. Throws KILN_EFIREWALL_INVALID with the line.
 */
export async function checkRuleset(
  file: string,
  nft: ProgramInput,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const path = resolve(file);
  const text = await readUserFile(path, "firewall ruleset", "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
    throw usageError(
      "KILN_EFIREWALL_NOT_FOUND",
      `Cannot read firewall ruleset ${q(file)}: no such file`,
      "Give the path of an nftables ruleset (the syntax of `nft -f`).",
    );
  });
  const include = text.split("\n").findIndex((l) => /^\s*include\s/.test(l));
  if (include >= 0) {
    throw usageError(
      "KILN_EFIREWALL_INVALID",
      `Cannot use firewall ruleset ${q(file)}: line ${include + 1} includes another file, which the image would not have`,
      "Put the whole ruleset in one file.",
      { file, line: include + 1 },
    );
  }
  const files = nft.files ?? [];
  const loader = files.find((f) => f.dest === "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" && !f.symlink);
  if (!loader) {
    throw new KilnError(
      "KILN_EFIREWALL_CHECK",
      `Cannot check firewall ruleset ${q(file)}: Debian's nft came without its dynamic loader`,
      "Run `kiln gc` and bake again; report it if it persists.",
    );
  }
  const libDirs = [...new Set(files.filter((f) => /\.so(\.|$)/.test(f.dest)).map((f) => dirname(f.src)))];
  const nftArgs = [loader.src, "--library-path", libDirs.join(":"), nft.src, "-c", "-f", path];
  const env = { ...(opts.env ?? process.env), LC_ALL: "C" };
  let r = await exec("unshare", ["-rn", ...nftArgs], { check: false, env, timeoutMs: 30_000 });
  // Without user namespaces (a locked-down host) the check still runs, as it is: `-c` commits nothing.
  if (r.code !== 0 && /^unshare: /m.test(r.stderr))
    r = await exec(nftArgs[0]!, nftArgs.slice(1), { check: false, env, timeoutMs: 30_000 });
  if (r.code === 0) return;
  const p = parseNftErrors(r.stderr, path);
  if (!p || /Operation not permitted/.test(p.message)) {
    throw new KilnError(
      "KILN_EFIREWALL_CHECK",
      `Cannot check firewall ruleset ${q(file)}: nft -c failed with status ${r.code}: ${r.stderr.trim().split("\n").slice(-3).join(" ")}`,
      "nft checks a ruleset against this host's kernel (nf_tables), which needs user namespaces (unshare -rn) or CAP_NET_ADMIN: bake as root, or where unprivileged user namespaces are allowed.",
    );
  }
  const where = p.line > 0 ? `line ${p.line}, column ${p.column}: ` : "";
  throw usageError(
    "KILN_EFIREWALL_INVALID",
    `Cannot use firewall ruleset ${q(file)}: ${where}${p.message}${p.source ? ` (${q(p.source.trim())})` : ""}`,
    /Interface does not exist/.test(p.message)
      ? "Name interfaces with iifname/oifname (checked by name when packets pass), not iif/oif (resolved when the ruleset loads)."
      : "Fix the ruleset (nftables syntax, as `nft -f` reads it); kiln checks it with Debian's nft, the one the image loads it with.",
    { file, line: p.line, column: p.column },
  );
}
