#!/usr/bin/env node
// Toolchain overhead: compile and link the same C file N times through the kiln wrapper and through the
// backing compiler called directly with exactly the arguments the wrapper would pass (the wrapper's own
// exec line, printed instead of run), alternating the two; then the start-up time of `kiln --version` and
// `kiln toolchain env` (targets: wrapper overhead < 10%, start-up < 0.2 s). Needs `npm run build` first.
// Usage: node bench/toolchain.mjs [N]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KILN = join(ROOT, "bin", "kiln.js");
const N = Number(process.argv[2] ?? 20);
const work = mkdtempSync(join(tmpdir(), "kiln-bench-tc-"));
const env = { ...process.env, KILN_HOME: join(work, "home") };
const src = join(ROOT, "examples", "hello", "hello.c");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const time = (cmd, args, opts = {}) => {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"], ...opts });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return ms;
};
const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** The argv the wrapper would exec for `args`: its script, run with `exec` replaced by printing. */
function directArgv(wrapper, args) {
  const script = readFileSync(wrapper, "utf8").replace(/^(\s*)exec /gm, "$1printf '%s\\0' ");
  const out = execFileSync("sh", ["-c", script, wrapper, ...args], { env });
  return out.toString("utf8").split("\0").slice(0, -1);
}

try {
  console.log(`kiln toolchain benchmark: ${N} compile+link runs of examples/hello/hello.c per case`);
  for (const cc of ["gcc", "clang"]) {
    const dir = join(work, `tc-${cc}`);
    execFileSync(process.execPath, [KILN, "toolchain", "--quiet", "--cc", cc, "--dir", dir], { env });
    const wrapper = join(dir, "bin", "x86_64-kiln-linux-musl-gcc");
    const out = join(work, `hello-${cc}`);
    const args = ["-O2", src, "-o", out];
    const [direct, ...directArgs] = directArgv(wrapper, args);
    const w = [];
    const d = [];
    time(wrapper, args);
    time(direct, directArgs);
    for (let i = 0; i < N; i++) {
      w.push(time(wrapper, args));
      d.push(time(direct, directArgs));
    }
    const mw = median(w);
    const md = median(d);
    console.log(
      `${cc.padEnd(6)} wrapper ${fmt(mw)}  direct ${fmt(md)}  ratio ${(mw / md).toFixed(3)} (overhead ${(((mw - md) / md) * 100).toFixed(1)}%, target < 10%)`,
    );
    // The wrapper's fixed cost in absolute terms: a call that does almost nothing (-dumpversion).
    const [qd, ...qArgs] = directArgv(wrapper, ["-dumpversion"]);
    const qw = [];
    const qdt = [];
    for (let i = 0; i < N; i++) {
      qw.push(time(wrapper, ["-dumpversion"]));
      qdt.push(time(qd, qArgs));
    }
    console.log(
      `${"".padEnd(6)} -dumpversion: wrapper ${fmt(median(qw))}  direct ${fmt(median(qdt))}  (fixed cost ${fmt(median(qw) - median(qdt))} per call)`,
    );
  }

  // Start-up: the default toolchain exists (the first call writes it), so `env` takes its fast path.
  execFileSync(process.execPath, [KILN, "toolchain", "env"], { env });
  const runs = { "node -e 0 (baseline)": ["-e", "0"], "kiln --version": [KILN, "--version"] };
  runs["kiln toolchain --help"] = [KILN, "toolchain", "--help"];
  runs["kiln toolchain env"] = [KILN, "toolchain", "env"];
  for (const [name, args] of Object.entries(runs)) {
    const ts = [];
    for (let i = 0; i < N; i++) ts.push(time(process.execPath, args));
    console.log(
      `${name.padEnd(24)} ${fmt(median(ts))}${name.startsWith("kiln") ? " (target < 200 ms)" : ""}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
