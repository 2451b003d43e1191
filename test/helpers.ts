// Shared by end-to-end tests: run the real `kiln` executable (from dist/, built by `npm test`) with its own
// KILN_HOME, and make scratch directories that are removed afterwards.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const KILN = join(ROOT, "bin", "kiln.js");
/** What users run: starts from the startup snapshot when one is built (test/e2e/snapshot.test.ts), else as KILN. */
export const KILN_BIN = join(ROOT, "bin", "kiln");

/**
 * A KILN_HOME shared by all tests of one run, so that the kernel package is fetched and the default
 * toolchain written once (`.kiln-test/home`, ignored by git). Tests that must start empty use tmpHome().
 */
export function sharedHome(): string {
  const dir = process.env.KILN_TEST_HOME ?? join(ROOT, ".kiln-test", "home");
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function tmpDir(prefix = "kiln-test-"): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runKiln(
  args: readonly string[],
  opts: { home?: string; env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return run(KILN_BIN, args, {
    ...opts,
    env: { ...process.env, KILN_HOME: opts.home ?? sharedHome(), ...opts.env },
  });
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return collect(cmd, args, opts, true);
}

/**
 * Run a command with stdin closed (/dev/null): for tools that must not wait on, or write errors about, a
 * pipe nobody fills.
 */
export function exe(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return collect(cmd, args, opts, false);
}

function collect(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number },
  stdin: boolean,
): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.stdout!.setEncoding("utf8").on("data", (b) => (stdout += b));
    child.stderr!.setEncoding("utf8").on("data", (b) => (stderr += b));
    child.on("error", rej);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (child.stdin) {
      // A short-lived program may exit before reading its input.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input ?? "");
    }
  });
}

/** A TCP port nothing listens on now (on `host`: 127.0.0.1 unless a test forwards on every address). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/**
 * Ask `fn` every `intervalMs` until it gives a value (not undefined), for up to `timeoutMs`; a throw counts
 * as "not yet" (QEMU's user networking accepts connections before the guest listens) unless
 * `retryErrors` is false. The timeout error names `what` and the last error.
 */
export async function poll<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; retryErrors?: boolean } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      if (opts.retryErrors === false) throw e;
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: no answer within ${timeoutMs} ms (${last})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
