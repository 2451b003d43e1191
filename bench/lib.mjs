// Shared by the benchmarks: repeat, take medians, print ratios against a baseline measured in the same run.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, utimesSync } from "node:fs";
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const KILN = join(ROOT, "bin", "kiln.js");
/** kiln as users run it: from its startup snapshot when one is built (npm run build). Timed rows use it. */
export const KILN_BIN = join(ROOT, "bin", "kiln");
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
  kiln(["components", "fetch", "--quiet"]);
  return kilnCompile(join(ROOT, "examples", "hello", "hello.c"), join(work, "hello"));
}

/**
 * examples/httpd built and baked by `kiln run` with `kernel`, started detached as NAME with a forward from
 * PORT to its 8080 once, then removed; returns its image directory. That launch has the machine shape a
 * bench's HTTP runs have (a NIC with a port forward; which port is not part of it), so it also saves the
 * boot state they restore (src/launch/bootState.ts).
 */
export function httpdImage(kernel, name, port) {
  // A machine left by an interrupted run.
  spawnSync(process.execPath, [KILN, "rm", "-f", name], { env: ENV, stdio: "ignore" });
  const httpd = join(ROOT, "examples", "httpd");
  const args = ["run", httpd, "--kernel", kernel, "-d", "--json", "--name", name, "-p", `${port}:8080`];
  const started = JSON.parse(kiln(args, { stdio: ["ignore", "pipe", "inherit"] }));
  kiln(["rm", "-f", name]);
  return started.image;
}

/**
 * Bakes that bake's memo (src/bake/bakeMemo.ts) cannot answer: of a copy of PROGRAM (WORK/NAME-touched, so
 * that other bakes' memos of PROGRAM stand) whose times are set to now before each bake, an input rewritten.
 * Returns a function that times one such bake (bin/kiln) into OUT, with EXTRA arguments.
 */
export function touchedBake(program, work) {
  const copy = join(work, `${basename(program)}-touched`);
  copyFileSync(program, copy);
  return (out, extra = []) => {
    const now = new Date();
    utimesSync(copy, now, now);
    return timeSync(KILN_BIN, ["bake", "qemu", out, copy, ...extra, "--quiet"]);
  };
}

/** Compile one C file with the bench home's default kiln toolchain (written if missing); returns `out`. */
export function kilnCompile(src, out) {
  kiln(["toolchain", "--quiet"], { stdio: "ignore" });
  const cc = join(HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
  const r = spawnSync(cc, ["-Os", "-o", out, src], { env: ENV, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`compiling ${src} failed`);
  return out;
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

/**
 * The QEMU command kiln runs for IMAGE (`kiln launch qemu --dry-run --json`, with EXTRA launch options), less
 * the control socket and pid file, so that a bench starts the very same machine itself and times it.
 */
export function qemuCommand(image, extra = []) {
  const plan = JSON.parse(kiln(["launch", "qemu", "--dry-run", "--json", ...extra, image]));
  const cmd = plan.command.filter(
    (a, i, all) => !(a.startsWith("unix:") || all[i - 1] === "-pidfile" || a === "-qmp" || a === "-pidfile"),
  );
  return { cmd, accel: plan.accel, plan };
}

/**
 * Start `cmd` and time its first HTTP 200 for GET http://127.0.0.1:PORT/PATH: ms from the start, then kill it.
 * A new try starts every 10 ms, whatever the earlier ones are doing, so the figure is when the guest first
 * could answer, to within ~10 ms. Under QEMU's user networking a try made before the guest's NIC is up is
 * accepted by slirp and then hangs until slirp resends the SYN (seconds), so one try at a time, each given up
 * after 100 ms, answered up to ~120 ms after the guest could. Tries are given up after 1 s, 40 at most at once.
 */
export async function timeToAnswer(cmd, port, path = "/", { timeoutMs = 60_000 } = {}) {
  const t = performance.now();
  const child = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
  const tries = new Set();
  let tick;
  try {
    return await new Promise((resolve, reject) => {
      tick = setInterval(() => {
        if (performance.now() - t > timeoutMs)
          return reject(new Error(`no HTTP answer within ${timeoutMs} ms`));
        if (tries.size >= 40) return;
        const ac = new AbortController();
        tries.add(ac);
        const timer = setTimeout(() => ac.abort(), 1000);
        fetch(`http://127.0.0.1:${port}${path}`, { signal: ac.signal })
          .then((r) => r.ok && resolve(performance.now() - t))
          .catch(() => {})
          .finally(() => {
            clearTimeout(timer);
            tries.delete(ac);
          });
      }, 10);
    });
  } finally {
    clearInterval(tick);
    for (const ac of tries) ac.abort();
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
  }
}

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

/**
 * The smallest memory (MiB, a multiple of `step`) in [lo, hi] at which `boots(m)` holds, by bisection (booting
 * is monotonic in memory); NaN when even `hi` does not boot.
 */
export async function smallestMemory(boots, { lo = 8, hi = 512, step = 2 } = {}) {
  if (!(await boots(hi))) return Number.NaN;
  let ok = hi;
  let bad = lo - step;
  while (ok - bad > step) {
    const mid = bad + Math.ceil((ok - bad) / 2 / step) * step;
    if (await boots(mid)) ok = mid;
    else bad = mid;
  }
  return ok;
}

/**
 * Wait until the 1-minute load average is below `below` (other work on the machine skews every figure), at
 * most `timeoutMs`; returns the load measured last, for the report.
 */
export async function quietHost({ below = 0.7, timeoutMs = 120_000 } = {}) {
  const start = performance.now();
  for (;;) {
    const load = loadavg()[0];
    if (load < below || performance.now() - start >= timeoutMs) return load;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** "median (min-max)" of `xs` in ms, or "-" for none. */
export function spread(xs, unit = "ms", digits = 0) {
  const ok = xs.filter((x) => Number.isFinite(x));
  if (!ok.length) return "-";
  const f = (x) => x.toFixed(digits);
  return `${f(median(ok))} ${unit} (${f(Math.min(...ok))}-${f(Math.max(...ok))})`;
}
