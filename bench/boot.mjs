// QEMU start to the program's first line, under the accelerator kiln picks (software emulation where KVM
// does not work). Rows: the stock kernel with a bare static /init (baseline: no kiln-init), the stock kernel
// with kiln-init (a baked hello), the same through the bzImage's decompressor instead of the PVH ELF kiln
// launches, and the specialized kernels of the qemu and microvm platforms (with --specialized; built if
// missing, minutes each).
// Usage: node bench/boot.mjs [runs] [--specialized]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOME, helloSetup, kiln, qemuCommand, ROOT, repeat, row, timeToLine } from "./lib.mjs";

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 7);
const specialized = process.argv.includes("--specialized");
const work = join(HOME, "bench-boot");
const hello = helloSetup(work);

const stock = join(work, "stock");
kiln(["bake", "qemu", stock, hello, "--quiet"]);
// Baseline: the same kernel, an initrd holding only the program as /init.
const { writeCpio } = await import(join(ROOT, "dist", "bake", "cpio.js"));
const bare = join(work, "bare.initrd");
writeFileSync(bare, writeCpio([{ path: "/init", mode: 0o755, data: readFileSync(hello) }]));

function command(image, initrd) {
  const { cmd, accel } = qemuCommand(image);
  if (initrd) cmd[cmd.indexOf("-initrd") + 1] = initrd;
  return { cmd, accel };
}

const first = /Hello from kiln!/;
const base = command(stock, bare);
console.log(`accelerator: ${base.accel}; ${runs} boots each; QEMU start -> "Hello from kiln!"`);
const b = row(
  "baseline: stock kernel, bare /init",
  await repeat(runs, () => timeToLine(base.cmd[0], base.cmd.slice(1), first)),
);
const s = command(stock);
row(
  "kiln: stock kernel + kiln-init",
  await repeat(runs, () => timeToLine(s.cmd[0], s.cmd.slice(1), first)),
  b,
);
// What the launcher saves by starting the ELF inside the bzImage (src/launch/directKernel.ts).
const viaBz = [...s.cmd];
viaBz[viaBz.indexOf("-kernel") + 1] = join(stock, "kernel");
row(
  "stock kernel + kiln-init, bzImage decompressor",
  await repeat(runs, () => timeToLine(viaBz[0], viaBz.slice(1), first)),
  b,
);
if (specialized) {
  for (const platform of ["qemu", "microvm"]) {
    const sp = join(work, `specialized-${platform}`);
    kiln(["bake", platform, sp, hello, "--kernel", "specialized", "--quiet"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const c = command(sp);
    row(
      `kiln: specialized ${platform} + kiln-init`,
      await repeat(runs, () => timeToLine(c.cmd[0], c.cmd.slice(1), first)),
      b,
    );
  }
}
console.log(
  "targets: kiln-init adds < 5% over the baseline; stock < 1700 ms; specialized <= 360 ms (Rumprun hello, -M pc)",
);
