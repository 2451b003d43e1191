// bake time of examples/hello once the components are in the store, against Rumprun's measured
// `rumprun-bake hw_virtio` (1.31 s on these machines: field notes) and against a plain `cp` of the same
// kernel and program (the floor any bake pays). Usage: node bench/bake.mjs [runs]
import { join } from "node:path";
import { HOME, helloSetup, kiln, ROOT, repeat, row, timeSync } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 15);
const work = join(HOME, "bench-bake");
const hello = helloSetup(work);
const img = join(work, "img");
kiln(["bake", "qemu", img, hello, "--quiet"]); // warm: kiln-init built and cached
const base = row(
  "baseline: cp of the kernel",
  await repeat(runs, () => timeSync("cp", [join(img, "kernel"), join(work, "kcopy")])),
);
const m = row(
  "kiln bake qemu (stock kernel)",
  await repeat(runs, () =>
    timeSync(process.execPath, [join(ROOT, "bin", "kiln.js"), "bake", "qemu", img, hello, "--quiet"]),
  ),
  base,
);
console.log(`target: < 130 ms; Rumprun's rumprun-bake: 1310 ms -> kiln is ${(1310 / m).toFixed(1)}x faster`);
