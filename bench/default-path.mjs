// The default path against Debian's kernel: `kiln run examples/hello` from a fresh kiln process (build and
// bake cached) to the program's line, on the default path (the specialized kernel when one is built for qemu)
// and with `--kernel stock`, interleaved in the same invocation; plus the stock kernel without kiln's PCI
// remedy on microvm (`initcall_blacklist` replaced by a value of the user's), to show what the fix costs or
// saves. Usage: node bench/default-path.mjs [runs]
// (needs a specialized kernel for qemu in the bench home: `KILN_HOME=... kiln components build qemu`.)
import { statSync } from "node:fs";
import { join } from "node:path";
import { KILN, kiln, ROOT, repeat, row, timeToLine } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 7);
const target = join(ROOT, "examples", "hello");
const variants = {
  default: [],
  stock: ["--kernel", "stock"],
  stockNoFix: ["--kernel", "stock", "--cmdline", "initcall_blacklist=kiln_none"],
};
const facts = {};
for (const [name, extra] of Object.entries(variants)) {
  const r = JSON.parse(kiln(["run", target, ...extra, "--json"], { stdio: ["ignore", "pipe", "ignore"] }));
  const size = (f) => statSync(join(r.image, f)).size;
  facts[name] = { kind: r.kernel.kind, bytes: size("kernel") + size("initrd") };
}
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`;
console.log(
  `${runs} runs each, interleaved; kiln start -> "Hello from kiln!"; default path: ${facts.default.kind} kernel (${mb(facts.default.bytes)} kernel+initrd), stock ${mb(facts.stock.bytes)}`,
);
if (facts.default.kind !== "specialized")
  console.log("note: no specialized kernel for qemu in this home, so the default path is the stock kernel");
const line = /Hello from kiln!/;
const times = { default: [], stock: [], stockNoFix: [] };
// Each round starts with the next variant, so that none always runs right after the same other one.
const order = Object.entries(variants);
await repeat(runs, async (i) => {
  for (let k = 0; k < order.length; k++) {
    const [name, extra] = order[(i + k) % order.length];
    times[name].push(await timeToLine(process.execPath, [KILN, "run", target, "-q", ...extra], line));
  }
});
const base = row("baseline: kiln run --kernel stock", times.stock);
row(`kiln run (default: ${facts.default.kind})`, times.default, base);
row("kiln run --kernel stock, PCI probe left on", times.stockNoFix, base);
