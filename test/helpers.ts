// Shared by end-to-end tests: run the real `kiln` executable (from dist/, built by `npm test`) with its own
// KILN_HOME, and make scratch directories that are removed afterwards.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const KILN = join(ROOT, "bin", "kiln.js");

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
  return run(process.execPath, [KILN, ...args], {
    ...opts,
    env: { ...process.env, KILN_HOME: opts.home ?? sharedHome(), ...opts.env },
  });
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    child.on("error", rej);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      res({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A short-lived program may exit before reading its input.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}
