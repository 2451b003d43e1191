// bake time of examples/hello once the components are in the store, against the floor any kiln command pays
// (`node -e ''`: Node starting and doing nothing; issue 18's target is a warm bake at most 1.5x that), against
// a plain `cp` of the same kernel (the floor any bake pays), and against Rumprun's measured
// `rumprun-bake hw_virtio` (1.31 s on these machines: field notes; bench/rumprun.mjs times it when given).
// kiln runs as users run it, bin/kiln (from its startup snapshot when built: npm run build), and as
// `node bin/kiln.js` (from its modules). A re-bake with nothing changed is answered by bake's memo
// (src/bake/bakeMemo.ts); the "program touched" row is the full bake a changed input costs (touch gives the
// program a new identity, so the memo misses, and the bake reads, checks and writes everything).
// Rounds are interleaved. Usage: node bench/bake.mjs [runs]
import { join } from "node:path";
import { HOME, helloSetup, KILN_BIN, kiln, ROOT, repeat, row, timeSync, touchedBake } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 15);
const work = join(HOME, "bench-bake");
const hello = helloSetup(work);
const img = join(work, "img");
// Each way of starting has its own output: a bake from the other would change the image under its memo.
const args = ["bake", "qemu", img, hello, "--quiet"];
const modulesArgs = ["bake", "qemu", join(work, "img-modules"), hello, "--quiet"];
const touchedBakeOf = touchedBake(hello, work);
const touchedOut = join(work, "img-touched");
// warm: kiln-init built, host facts and digests cached, the memos written
for (const a of [args, modulesArgs]) kiln(a);
touchedBakeOf(touchedOut);
timeSync(KILN_BIN, args);
const node = [];
const cp = [];
const bake = [];
const modules = [];
const touched = [];
await repeat(runs, () => {
  node.push(timeSync(process.execPath, ["-e", ""]));
  cp.push(timeSync("cp", [join(img, "kernel"), join(work, "kcopy")]));
  bake.push(timeSync(KILN_BIN, args));
  modules.push(timeSync(process.execPath, [join(ROOT, "bin", "kiln.js"), ...modulesArgs]));
  touched.push(touchedBakeOf(touchedOut));
});
const floor = row("baseline: node -e ''", node);
row("cp of the kernel", cp, floor);
const m = row("kiln bake qemu (stock kernel), nothing changed", bake, floor);
row("  the same, node bin/kiln.js (modules)", modules, floor);
row("kiln bake qemu, program touched (a full bake)", touched, floor);
console.log(
  `target: <= 1.5x node -e '' (${(1.5 * floor).toFixed(0)} ms here); Rumprun's rumprun-bake: 1310 ms -> kiln is ${(1310 / m).toFixed(1)}x faster`,
);
