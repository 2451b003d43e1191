// Shared by the benchmarks: repeat, take medians, print ratios against a baseline measured in the same run.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const KILN = join(ROOT, "bin", "kiln.js");
/** Benchmarks use their own KILN_HOME so that they never disturb a user's store. */
export const HOME = process.env.KILN_BENCH_HOME ?? join(ROOT, ".kiln-test", "bench-home");
export const ENV = { ...process.env, KILN_HOME: HOME };
mkdirSync(HOME, { recursive: true });

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function timeSync(cmd, args, opts = {}) {
  const t = performance.now();
  const r = spawnSync(cmd, args, { env: ENV, stdio: ["ignore", "pipe", "pipe"], ...opts });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return ms;
}

export function kiln(args, opts = {}) {
  const r = spawnSync(process.execPath, [KILN, ...args], { env: ENV, encoding: "utf8", ...opts });
  if (r.status !== 0) throw new Error(`kiln ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The toolchain and components in the bench home, and examples/hello compiled with the kiln toolchain into
 * WORK/hello (the program the bake and boot benchmarks measure); returns its path.
 */
export function helloSetup(work) {
  mkdirSync(work, { recursive: true });
  kiln(["toolchain", "--quiet"], { stdio: "ignore" });
  kiln(["components", "fetch", "--quiet"]);
  const cc = join(HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
  const hello = join(work, "hello");
  spawnSync(cc, ["-Os", "-o", hello, join(ROOT, "examples", "hello", "hello.c")], {
    env: ENV,
    stdio: "inherit",
  });
  return hello;
}

/** Start a process and resolve with the ms until `pattern` appears on its stdout; the process is then killed. */
export function timeToLine(cmd, args, pattern, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, args, { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no ${pattern} within ${timeoutMs} ms: ${out.slice(-500)}`));
    }, timeoutMs);
    child.stdout.on("data", (b) => {
      out += b;
      if (pattern.test(out)) {
        const ms = performance.now() - t;
        clearTimeout(timer);
        // SIGTERM, so that kiln stops its QEMU too; resolve once everything is gone.
        child.kill("SIGTERM");
        child.on("close", () => resolve(ms));
      }
    });
  });
}

export async function repeat(n, fn) {
  const xs = [];
  for (let i = 0; i < n; i++) xs.push(await fn(i));
  return xs;
}

export function row(name, xs, baseline) {
  const m = median(xs);
  const ratio = baseline ? `  ${(m / baseline).toFixed(2)}x baseline` : "";
  console.log(
    `${name.padEnd(44)} median ${m.toFixed(1).padStart(8)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})${ratio}`,
  );
  return m;
}
