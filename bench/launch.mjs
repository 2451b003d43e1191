#!/usr/bin/env node
// kiln launch overhead: time from start to the guest program's first console line, `kiln launch qemu` against
// the very QEMU command it runs (taken from --dry-run), interleaved, median of N each, in the same invocation.
// Also the time to exit (the guest program's status back in the shell).
//   node --import tsx bench/launch.mjs [--runs 5] [--image DIR]   (default: examples/hello, baked as the tests do)
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENV, HOME, KILN, kiln, median, row } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("runs", "5"));
const LINE = /from kiln!/;

async function hello() {
  const m = await import("../test/e2e/launchFixture.ts");
  return m.bakeImage(mkdtempSync(join(tmpdir(), "kiln-bench-launch-")), "hello");
}

/** ms to the first line matching LINE, and ms to exit (with the exit code). */
function timeRun(cmd, argv, env = ENV) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let first;
    let out = "";
    const child = spawn(cmd, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (b) => (err += b));
    child.stdout.on("data", (b) => {
      out += b;
      if (first === undefined && LINE.test(out)) first = performance.now() - t;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (first === undefined)
        reject(new Error(`no ${LINE} from ${cmd}: ${out.slice(-400)}${err.slice(-400)}`));
      else resolve({ first, exit: performance.now() - t, code });
    });
  });
}

const image = opt("image") ?? (await hello());
const plan = JSON.parse(kiln(["launch", "qemu", "--dry-run", "--json", "--name", "bench-direct", image]));
const dir = join(HOME, "machines", "bench-direct");
console.log(`image ${image}\naccelerator ${plan.accel}; ${RUNS} runs each, interleaved\n`);
const direct = { first: [], exit: [] };
const viaKiln = { first: [], exit: [] };
for (let i = 0; i < RUNS; i++) {
  mkdirSync(dir, { recursive: true });
  const d = await timeRun(plan.command[0], plan.command.slice(1));
  rmSync(dir, { recursive: true, force: true });
  const k = await timeRun(process.execPath, [KILN, "launch", "qemu", "--rm", image]);
  if (k.code !== 0) throw new Error(`kiln launch exited ${k.code}`);
  direct.first.push(d.first);
  direct.exit.push(d.exit);
  viaKiln.first.push(k.first);
  viaKiln.exit.push(k.exit);
}
// kiln's own share, less noisy than the difference of two boots: from starting kiln to QEMU's exec, seen
// through a wrapper (KILN_QEMU) that notes the time and execs the real QEMU.
const scratch = mkdtempSync(join(tmpdir(), "kiln-bench-wrap-"));
const wrapper = join(scratch, "qemu-system-x86_64");
const stamp = join(scratch, "exec-time");
writeFileSync(wrapper, `#!/bin/sh\ndate +%s%N > ${stamp}\nexec qemu-system-x86_64 "$@"\n`);
chmodSync(wrapper, 0o755);
const wrapEnv = { ...ENV, KILN_QEMU: wrapper };
await timeRun(process.execPath, [KILN, "launch", "qemu", "--rm", image], wrapEnv); // the KVM check for a new binary
const toExec = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = Date.now();
  await timeRun(process.execPath, [KILN, "launch", "qemu", "--rm", image], wrapEnv);
  toExec.push(Number(readFileSync(stamp, "utf8").trim()) / 1e6 - t0);
}
rmSync(scratch, { recursive: true, force: true });

const pre = row("kiln start -> QEMU exec", toExec);
const b1 = row("QEMU directly: first line", direct.first);
row("kiln launch qemu: first line", viaKiln.first, b1);
const b2 = row("QEMU directly: exit", direct.exit);
row("kiln launch qemu: exit", viaKiln.exit, b2);
console.log(
  `\nkiln overhead (target < 150 ms): ${pre.toFixed(0)} ms before QEMU runs; difference of boot medians: first line ${(median(viaKiln.first) - b1).toFixed(0)} ms, exit ${(median(viaKiln.exit) - b2).toFixed(0)} ms (boots vary by more than that on a busy host)`,
);
