// bake time of examples/hello once the components are in the store, against Rumprun's measured
// `rumprun-bake hw_virtio` (1.31 s on these machines: field notes) and against a plain `cp` of the same
// kernel and program (the floor any bake pays). Usage: node bench/bake.mjs [runs]
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ENV, HOME, kiln, ROOT, repeat, row, timeSync } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 15);
const work = join(HOME, "bench-bake");
mkdirSync(work, { recursive: true });
kiln(["toolchain", "--quiet"], { stdio: "ignore" });
kiln(["components", "fetch", "--quiet"]);
const cc = join(HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
const hello = join(work, "hello");
spawnSync(cc, ["-Os", "-o", hello, join(ROOT, "examples", "hello", "hello.c")], {
  env: ENV,
  stdio: "inherit",
});
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
