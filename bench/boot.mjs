// QEMU start to the program's first line, under the accelerator kiln picks (software emulation where KVM
// does not work). Rows: the stock kernel with a bare static /init (baseline: no kiln-init), the stock kernel
// with kiln-init (a baked hello), and the specialized kernel (with --specialized, or when already built).
// Usage: node bench/boot.mjs [runs] [--specialized]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOME, helloSetup, kiln, ROOT, repeat, row, timeToLine } from "./lib.mjs";

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
  const plan = JSON.parse(kiln(["launch", "qemu", "--dry-run", "--json", image]));
  const cmd = plan.command.filter(
    (a, i, all) => !(a.startsWith("unix:") || all[i - 1] === "-pidfile" || a === "-qmp" || a === "-pidfile"),
  );
  if (initrd) cmd[cmd.indexOf("-initrd") + 1] = initrd;
  return { cmd, accel: plan.accel };
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
if (specialized) {
  const sp = join(work, "specialized");
  kiln(["bake", "qemu", sp, hello, "--kernel", "specialized", "--quiet"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const c = command(sp);
  row(
    "kiln: specialized kernel + kiln-init",
    await repeat(runs, () => timeToLine(c.cmd[0], c.cmd.slice(1), first)),
    b,
  );
}
console.log(
  "targets: kiln-init adds < 5% over the baseline; stock < 1700 ms; specialized <= 360 ms (Rumprun hello, -M pc)",
);
