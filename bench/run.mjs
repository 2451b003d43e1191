// `kiln run examples/hello` of an unchanged, already-built hello: time to the program's first line, against
// the very QEMU command kiln runs (from `kiln launch --dry-run`), interleaved, in the same invocation.
// kiln's own overhead is the difference of the medians. Usage: node bench/run.mjs [runs]
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { HOME, KILN, kiln, median, ROOT, repeat, row, timeToLine } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 7);
const target = join(ROOT, "examples", "hello");
const warm = JSON.parse(kiln(["run", "--rm", target, "--json"], { stdio: ["ignore", "pipe", "ignore"] }));
const plan = JSON.parse(
  kiln(["launch", "qemu", "--dry-run", "--json", "--name", "bench-run-direct", warm.image]),
);
const machineDir = join(HOME, "machines", "bench-run-direct");
const line = /Hello from kiln!/;
console.log(`accelerator ${plan.accel}; ${runs} runs each, interleaved; start -> "Hello from kiln!"`);
const direct = [];
const viaKiln = [];
await repeat(runs, async () => {
  mkdirSync(machineDir, { recursive: true });
  direct.push(await timeToLine(plan.command[0], plan.command.slice(1), line));
  rmSync(machineDir, { recursive: true, force: true });
  viaKiln.push(await timeToLine(process.execPath, [KILN, "run", "--rm", target], line));
});
const base = row("baseline: the same QEMU command, directly", direct);
row("kiln run examples/hello (cached build and bake)", viaKiln, base);
console.log(
  `kiln's overhead (difference of medians): ${(median(viaKiln) - base).toFixed(0)} ms; target < 150 ms`,
);
