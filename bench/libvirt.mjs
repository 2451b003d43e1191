#!/usr/bin/env node
// kiln launch libvirt against kiln launch qemu of the same image: time from the command to the program's
// first console line, and to kiln's exit with the program's status; interleaved, medians of N each, in the
// same invocation. QEMU runs the image on q35 as libvirt does (libvirt has no microvm), and on its default
// machine (microvm) as `kiln launch qemu` picks. The first libvirt launch uploads the kernel and initrd
// into kiln's pool; it is left out (a warm-up), as the QEMU launcher's first run extracts the PVH kernel.
// libvirtd and virtlogd are started as the tests start them (test/e2e/libvirtRig.ts); needs root.
//   node --import tsx bench/libvirt.mjs [--runs 5] [--connect URI]
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENV, KILN, median, row } from "./lib.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("runs", "5"));
const CONNECT = opt("connect");
const LINE = /from kiln!/;

const { startLibvirt } = await import("../test/e2e/libvirtRig.ts");
await startLibvirt();
const { bakeImage } = await import("../test/e2e/launchFixture.ts");
const image = bakeImage(mkdtempSync(join(tmpdir(), "kiln-bench-libvirt-")), "hello");

/** ms to the first line matching LINE, and ms to exit. */
function timeRun(argv) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let first;
    let out = "";
    let err = "";
    const child = spawn(process.execPath, [KILN, ...argv], { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    child.stderr.on("data", (b) => (err += b));
    child.stdout.on("data", (b) => {
      out += b;
      if (first === undefined && LINE.test(out)) first = performance.now() - t;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (first === undefined || code !== 0)
        reject(new Error(`kiln ${argv.join(" ")}: status ${code}, ${out.slice(-300)}${err.slice(-600)}`));
      else resolve({ first, exit: performance.now() - t });
    });
  });
}

const runs = {
  "kiln launch qemu (microvm)": ["launch", "qemu", "--rm", image],
  "kiln launch qemu --machine q35": ["launch", "qemu", "--rm", "--machine", "q35", image],
  [`kiln launch libvirt${CONNECT ? " (remote)" : ""}`]: [
    "launch",
    "libvirt",
    "--rm",
    ...(CONNECT ? ["--connect", CONNECT] : []),
    image,
  ],
};
for (const argv of Object.values(runs)) await timeRun(argv); // warm-up: PVH kernel, pool upload
const got = Object.fromEntries(Object.keys(runs).map((k) => [k, { first: [], exit: [] }]));
for (let i = 0; i < RUNS; i++) {
  for (const [name, argv] of Object.entries(runs)) {
    const r = await timeRun(argv);
    got[name].first.push(r.first);
    got[name].exit.push(r.exit);
  }
}
console.log(`image ${image}; ${RUNS} runs each, interleaved, after one warm-up each\n`);
const names = Object.keys(runs);
const base = row(`${names[1]}: first line`, got[names[1]].first);
row(`${names[0]}: first line`, got[names[0]].first, base);
row(`${names[2]}: first line`, got[names[2]].first, base);
const baseExit = row(`${names[1]}: exit`, got[names[1]].exit);
row(`${names[0]}: exit`, got[names[0]].exit, baseExit);
row(`${names[2]}: exit`, got[names[2]].exit, baseExit);
console.log(
  `\nlibvirt's share over QEMU on the same machine type: first line ${(median(got[names[2]].first) - base).toFixed(0)} ms, exit ${(median(got[names[2]].exit) - baseExit).toFixed(0)} ms`,
);
