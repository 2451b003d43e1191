// Runs inside the Xen rig's dom0 (bench/xen.mjs starts it there): `xl create -c CONFIG`, and the ms from
// the start of xl to the first console line matching PATTERN and to xl's end. Prints one JSON line.
import { spawn } from "node:child_process";

const [cfg, pattern] = process.argv.slice(2);
const re = new RegExp(pattern);
const t0 = performance.now();
const child = spawn("xl", ["create", "-c", cfg], { stdio: ["ignore", "pipe", "pipe"] });
let out = "";
let first;
child.stdout.on("data", (b) => {
  out += b;
  if (first === undefined && re.test(out)) first = performance.now() - t0;
});
child.stderr.on("data", (b) => {
  out += b;
});
child.on("close", (code) => {
  console.log(
    JSON.stringify({
      code,
      firstMs: first ?? null,
      totalMs: performance.now() - t0,
      exit: /kiln: exit (\d+)/.exec(out)?.[1] ?? null,
    }),
  );
});
