// Where a guest's boot goes, by sampling: QEMU runs kiln's own command line for the image (from `kiln launch
// --dry-run`) with a QMP socket, and the guest's instruction pointer is read through `info registers` as
// fast as QMP answers (about 2 samples per ms under TCG) until the program's line appears. Samples are
// named from the kernel's own /proc/kallsyms, read once per kernel by booting a small program that prints
// it (Debian ships System.map only in its -dbg package); PVH boots have no KASLR, so the addresses hold.
// Prints the hottest functions, the top three per 20 ms, and, for functions named with --stacks, the
// kernel text addresses found on the stack (the "guess" unwinder's view, enough to name the callers).
// Sampling has a cost: the boot takes ~20% longer, and when QEMU holds the vCPU to answer, one function can
// collect a burst of samples inside a single 20 ms bucket without doing that much work. Trust what is spread
// over several buckets (the per-20 ms list shows which), and check a cut with an A/B run of the boot.
// --from-start holds the vCPU (-S) until QMP is up, so that the first ~80 ms (firmware, the kernel's entry
// and setup before its console) are sampled too; the times then count from QMP's `cont`, not from spawn.
//
//   node bench/guest-profile.mjs [IMAGE] [--kernel stock|specialized] [--append "ARGS"] [--line REGEX]
//        [--stacks sym1,sym2] [--top 30] [--from-start]
// Without IMAGE, examples/hello baked with --kernel (default stock) in the bench home.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOME, helloSetup, kiln, kilnCompile, qemuCommand } from "./lib.mjs";

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const fromStart = argv.includes("--from-start");
const positional = argv.filter(
  (a, i) => !a.startsWith("--") && !(argv[i - 1]?.startsWith("--") && argv[i - 1] !== "--from-start"),
);
const kind = opt("kernel", "stock");
const line = new RegExp(opt("line", "Hello from kiln!"));
const stacks = new Set((opt("stacks", "") || "").split(",").filter(Boolean));
const top = Number(opt("top", "30"));
const work = join(HOME, "bench-profile");
mkdirSync(work, { recursive: true });

let image = positional[0];
if (!image) {
  image = join(work, `hello-${kind}`);
  kiln(["bake", "qemu", image, helloSetup(work), "--kernel", kind, "--quiet", "--force"]);
}
const manifest = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));

/** The kernel's text symbols, sorted, from a boot of the same kernel that prints /proc/kallsyms. */
function kernelSymbols() {
  const cache = join(work, `kallsyms-${manifest.kernel.sha256}.txt`);
  if (!existsSync(cache)) {
    const src = join(work, "kallsyms.c");
    writeFileSync(
      src,
      '#include <stdio.h>\nint main(void) { FILE *f = fopen("/proc/kallsyms", "r"); char b[65536]; size_t n;\n' +
        "  if (!f) return 1; while ((n = fread(b, 1, sizeof b, f)) > 0) fwrite(b, 1, n, stdout); return 0; }\n",
    );
    const prog = kilnCompile(src, join(work, "kallsyms"));
    const img = join(work, `kallsyms-${manifest.kernel.kind}`);
    kiln(["bake", "qemu", img, prog, "--kernel", manifest.kernel.kind, "--quiet", "--force"]);
    writeFileSync(cache, kiln(["launch", "qemu", "--rm", img], { maxBuffer: 64 << 20 }).replaceAll("\r", ""));
  }
  return parseSymbols(readFileSync(cache, "utf8"));
}

function parseSymbols(text) {
  const syms = [];
  for (const l of text.split("\n")) {
    const m = /^([0-9a-f]{16}) [tTwW] (\S+)$/.exec(l);
    if (m) syms.push([BigInt(`0x${m[1]}`), m[2]]);
  }
  if (syms.length < 100) throw new Error("no kernel symbols read: is the kernel built with kallsyms?");
  return syms.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

const syms = kernelSymbols();
const lo = syms[0][0];
function symbol(addr) {
  if (addr < lo || addr >> 40n !== 0xffffffn) return "(user space or firmware)";
  let a = 0;
  let b = syms.length - 1;
  while (a < b) {
    const m = (a + b + 1) >> 1;
    if (syms[m][0] <= addr) a = m;
    else b = m - 1;
  }
  return syms[a][1];
}

const { cmd } = qemuCommand(image);
const append = opt("append");
if (append) cmd[cmd.indexOf("-append") + 1] += ` ${append}`;
const sock = join(tmpdir(), `kiln-profile-${process.pid}.sock`);
cmd.push("-qmp", `unix:${sock},server=on,wait=off`);
if (fromStart) cmd.push("-S");

let t0 = performance.now();
const qemu = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
let console_ = "";
let lineAt;
qemu.stdout.on("data", (d) => {
  console_ += d;
  if (lineAt === undefined && line.test(console_)) lineAt = performance.now() - t0;
});
qemu.on("exit", () => {
  lineAt ??= Number.NaN;
});

let qmp;
for (;;) {
  try {
    qmp = connect(sock);
    await new Promise((res, rej) => {
      qmp.once("connect", res);
      qmp.once("error", rej);
    });
    break;
  } catch {
    if (performance.now() - t0 > 10_000) throw new Error("QMP did not answer within 10 s");
    await new Promise((r) => setTimeout(r, 2));
  }
}
let buf = "";
const waiting = [];
qmp.on("data", (d) => {
  buf += d;
  for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
    const msg = JSON.parse(buf.slice(0, i));
    buf = buf.slice(i + 1);
    if (msg.QMP || msg.return !== undefined || msg.error) waiting.shift()?.(msg);
  }
});
const ask = (command) =>
  new Promise((res) => {
    waiting.push(res);
    if (command) qmp.write(`${JSON.stringify(command)}\n`);
  });
await ask(); // the greeting
await ask({ execute: "qmp_capabilities" });
if (fromStart) {
  t0 = performance.now();
  await ask({ execute: "cont" });
}
const hmp = async (line) =>
  (await ask({ execute: "human-monitor-command", arguments: { "command-line": line } })).return ?? "";

const samples = [];
const callers = new Map();
while (lineAt === undefined && performance.now() - t0 < 120_000) {
  const regs = await hmp("info registers");
  const rip = /RIP=([0-9a-f]+)/.exec(regs);
  if (!rip) continue;
  const name = symbol(BigInt(`0x${rip[1]}`));
  samples.push([performance.now() - t0, name]);
  if (stacks.has(name)) {
    const rsp = /RSP=([0-9a-f]+)/.exec(regs)[1];
    const words = [...(await hmp(`x /160gx 0x${rsp}`)).matchAll(/0x([0-9a-f]{16})/g)].map((w) =>
      symbol(BigInt(`0x${w[1]}`)),
    );
    const chain = [...new Set(words.filter((w) => !w.startsWith("(") && !w.startsWith("__x86_")))].slice(
      0,
      10,
    );
    const key = `${name} <- ${chain.join(" <- ")}`;
    callers.set(key, (callers.get(key) ?? 0) + 1);
  }
}
qemu.kill("SIGKILL");
qmp.destroy();

const msPer = samples.length ? (samples.at(-1)[0] - samples[0][0]) / samples.length : 0;
console.log(
  `${image} (${manifest.kernel.kind} kernel): ${line} after ${lineAt.toFixed(0)} ms; ${samples.length} samples from ${samples[0]?.[0].toFixed(0)} ms, ~${msPer.toFixed(2)} ms each`,
);
const count = (xs) => {
  const m = new Map();
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]);
};
console.log("\nhottest (samples, ~ms, function):");
for (const [name, n] of count(samples.map((s) => s[1])).slice(0, top)) {
  console.log(`${String(n).padStart(6)} ${(n * msPer).toFixed(0).padStart(5)} ms  ${name}`);
}
console.log("\nper 20 ms (top three):");
const buckets = new Map();
for (const [t, name] of samples) {
  const b = Math.floor(t / 20) * 20;
  buckets.set(b, [...(buckets.get(b) ?? []), name]);
}
for (const [b, names] of buckets) {
  const top3 = count(names)
    .slice(0, 3)
    .map(([n, c]) => `${n}:${c}`);
  console.log(`${String(b).padStart(6)} ms  ${top3.join("  ")}`);
}
if (callers.size) {
  console.log("\nstacks (samples, function <- callers found on the stack):");
  for (const [k, n] of [...callers].sort((a, b) => b[1] - a[1]).slice(0, 20))
    console.log(`${String(n).padStart(6)}  ${k}`);
}
process.exit(0);
