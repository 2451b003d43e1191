#!/usr/bin/env node
// Image size of examples/hello (kernel + initrd, as bake writes them), against the stock-kernel image baked in
// the same invocation: the stock kernel, and the specialized kernels of the qemu and microvm platforms (built
// if missing: minutes each). Sizes are deterministic, so one bake each.
// Usage: node bench/size.mjs
import { statSync } from "node:fs";
import { join } from "node:path";
import { HOME, helloSetup, kiln } from "./lib.mjs";

const work = join(HOME, "bench-size");
const hello = helloSetup(work);
const MB = (n) => (n / 1e6).toFixed(2).padStart(6);

function bake(name, platform, kernel) {
  const out = join(work, name);
  kiln(["bake", platform, out, hello, "--kernel", kernel, "--quiet"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const k = statSync(join(out, "kernel")).size;
  const i = statSync(join(out, "initrd")).size;
  return { name, k, i, total: k + i };
}

const rows = [
  bake("stock qemu", "qemu", "stock"),
  bake("specialized qemu", "qemu", "specialized"),
  bake("specialized microvm", "microvm", "specialized"),
];
const base = rows[0].total;
for (const r of rows) {
  console.log(
    `${r.name.padEnd(22)} kernel ${MB(r.k)} MB  initrd ${MB(r.i)} MB  total ${MB(r.total)} MB  ${(r.total / base).toFixed(3)}x stock`,
  );
}
console.log("target: specialized kernel + initrd <= 1.5 MB (Rumprun's stripped hello: 2.9 MB)");
