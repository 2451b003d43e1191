import type { SpawnOptions } from "node:child_process";
import { KilnError, q } from "./errors.js";
import { spawnChild } from "./spawnChild.js";

export interface ExecResult {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Reject with KILN_EEXEC when the exit status is not 0 (default true). */
  check?: boolean;
  /** Give stdout back as a Buffer too (binary output). */
  timeoutMs?: number;
}

/** Run a real tool, collect its output. Missing tools become KILN_ETOOL_MISSING with an install hint. */
export function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const so: SpawnOptions = { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] };
    const child = spawnChild(cmd, args, so);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === "ENOENT") {
        reject(
          new KilnError(
            "KILN_ETOOL_MISSING",
            `Cannot run ${q(cmd)}: not found`,
            `Install it; \`kiln doctor\` names the package.`,
            {
              cause: e,
            },
          ),
        );
      } else reject(e);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const res: ExecResult = {
        code: code ?? 128,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if ((opts.check ?? true) && res.code !== 0) {
        const tail = res.stderr.trim().split("\n").slice(-8).join("\n");
        reject(
          new KilnError(
            "KILN_EEXEC",
            `Command ${q([cmd, ...args].join(" "))} failed with status ${res.code}${tail ? `:\n${tail}` : ""}`,
            "Read the tool's output above; run it by hand to reproduce.",
            { details: { cmd, args: [...args], status: res.code } },
          ),
        );
      } else resolve(res);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** Find an executable on PATH (or check an explicit path). */
export async function which(name: string, path = process.env.PATH ?? ""): Promise<string | undefined> {
  const { access, constants } = await import("node:fs/promises");
  const { join, isAbsolute } = await import("node:path");
  const candidates = name.includes("/")
    ? [isAbsolute(name) ? name : join(process.cwd(), name)]
    : path
        .split(":")
        .filter(Boolean)
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {}
  }
  return undefined;
}
