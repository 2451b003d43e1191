#!/usr/bin/env node
// Boot time of the specialized kernel under QEMU: QEMU start -> the line a static musl /init prints, median
// of N runs per variant, interleaved, with ratios against the first variant (microvm + bzImage) measured in
// the same invocation; then the smallest -m that still boots. Uses the newest specialized kernel in
// KILN_HOME (default: the test suite's shared home), or --bzimage/--vmlinux paths; the PVH rows boot the ELF
// inside the bzImage unless --vmlinux names one.
// A last row boots a 9 KB PVH ELF that only prints the line: the floor QEMU itself sets.
// Its figures are the kernel's, on a QEMU line of its own and with no kiln-init: what a user sees from
// `kiln launch` (kiln's QEMU command, CPU model, kiln-init and hello) is bench/rumprun.mjs's row.
//   node bench/specialized-boot.mjs [--runs 5] [--mem] [--bzimage F] [--vmlinux F] [--append "..."]
//        [--try "extra kernel args"]... (each adds a PVH row with those args appended)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("runs", "5"));
const LINE = "kiln-hello: ok";

function newestKernel() {
  const home = process.env.KILN_HOME ?? join(ROOT, ".kiln-test", "home");
  const root = join(home, "components", "specialized");
  const dirs = readdirSync(root)
    .filter((n) => /^[0-9a-f]{64}$/.test(n))
    .map((n) => join(root, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!dirs.length) throw new Error(`no specialized kernel under ${root}: run test/e2e/specialized.test.ts`);
  return { bzImage: join(dirs[0], "bzImage"), dir: dirs[0] };
}

/** The PVH ELF inside a bzImage, as kiln's launcher takes it out (src/launch/directKernel.ts). */
async function elfOf(bzImage, dir) {
  const { bzImageElf } = await import(join(ROOT, "dist", "core", "bzImage.js"));
  const out = join(dir, "vmlinux");
  writeFileSync(out, await bzImageElf(readFileSync(bzImage), bzImage));
  return out;
}

/** A PVH ELF that writes the line to COM1 and triple-faults (so -no-reboot ends QEMU): QEMU's own cost. */
function makeFloor(dir) {
  const src = join(dir, "floor.S");
  writeFileSync(
    src,
    [
      ".code32",
      ".text",
      ".globl _start",
      "_start: mov $msg, %esi",
      "1: movb (%esi), %al",
      "  test %al, %al",
      "  jz 2f",
      "  mov $0x3f8, %dx",
      "  outb %al, %dx",
      "  inc %esi",
      "  jmp 1b",
      "2: lidt idt",
      "  int3",
      ".data",
      `msg: .asciz "${LINE}\\n"`,
      ".align 8",
      "idt: .word 0",
      "  .long 0",
      '.section .note.Xen, "a"',
      ".align 4",
      "  .long 4, 4, 18",
      '  .asciz "Xen"',
      "  .long _start",
      "",
    ].join("\n"),
  );
  const out = join(dir, "floor.elf");
  const cc = spawnSync(
    "gcc",
    ["-m32", "-nostdlib", "-static", "-no-pie", "-Wl,-Ttext=0x100000", "-o", out, src],
    {
      stdio: "inherit",
    },
  );
  if (cc.status !== 0) throw new Error("gcc -m32 failed");
  return out;
}

function makeInitrd(dir) {
  const src = join(dir, "hello.c");
  writeFileSync(
    src,
    `#include <unistd.h>\n#include <sys/reboot.h>\nint main(void){static const char m[]="${LINE}\\n";` +
      "write(1,m,sizeof m-1);reboot(RB_AUTOBOOT);return 0;}\n",
  );
  const root = join(dir, "root");
  spawnSync("mkdir", ["-p", root]);
  const cc = spawnSync("musl-gcc", ["-static", "-Os", "-s", "-o", join(root, "init"), src], {
    stdio: "inherit",
  });
  if (cc.status !== 0) throw new Error("musl-gcc failed");
  const cpio = spawnSync("cpio", ["-o", "-H", "newc", "--quiet"], { cwd: root, input: "init\n" });
  if (cpio.status !== 0) throw new Error("cpio failed");
  const initrd = join(dir, "initrd.cpio");
  writeFileSync(initrd, cpio.stdout);
  return initrd;
}

/** One boot: ms from spawn to the hello line, or undefined if it did not come within the timeout. */
function boot(v, initrd, mem, timeoutMs = 30_000) {
  return new Promise((res) => {
    const t0 = performance.now();
    const q = spawn(
      "qemu-system-x86_64",
      [
        ...v.machine,
        "-m",
        String(mem),
        "-kernel",
        v.kernel,
        "-initrd",
        initrd,
        "-append",
        v.append,
        "-nographic",
        "-nodefaults",
        "-serial",
        "stdio",
        "-no-reboot",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let t;
    const timer = setTimeout(() => q.kill("SIGKILL"), timeoutMs);
    q.stdout.on("data", (b) => {
      out += b;
      if (t === undefined && out.includes(LINE)) t = performance.now() - t0;
    });
    q.on("close", () => {
      clearTimeout(timer);
      res(t);
    });
  });
}

/** The host's TSC rate in kHz, as /proc/cpuinfo gives it (TCG's TSC runs at the host's rate). */
function hostTscKhz() {
  const m = /^cpu MHz\s*:\s*([0-9.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return m ? Math.round(Number(m[1]) * 1000) : 2000000;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const tmp = mkdtempSync(join(tmpdir(), "kiln-bench-"));
const k =
  opt("bzimage") || opt("vmlinux") ? { bzImage: opt("bzimage"), vmlinux: opt("vmlinux") } : newestKernel();
if (k.bzImage && !k.vmlinux) k.vmlinux = await elfOf(k.bzImage, tmp);
const base = opt("append", "console=ttyS0 quiet panic=-1 reboot=t");
const variants = [
  k.bzImage && {
    name: "microvm,acpi=off bzImage",
    machine: ["-M", "microvm,acpi=off"],
    kernel: k.bzImage,
    append: base,
  },
  k.vmlinux && {
    name: "microvm,acpi=off PVH vmlinux",
    machine: ["-M", "microvm,acpi=off"],
    kernel: k.vmlinux,
    append: base,
  },
  // Under TCG the local APIC timer fails its calibration after ~0.2 s of trying: skip it (the PIT ticks).
  k.vmlinux && {
    name: "PVH + noapictimer",
    machine: ["-M", "microvm,acpi=off"],
    kernel: k.vmlinux,
    append: `${base} noapictimer`,
  },
  // ...and give the TSC frequency, which TCG cannot calibrate (skips the PIT loop and the delay loop).
  k.vmlinux && {
    name: "PVH + noapictimer tsc_early_khz=HOST",
    machine: ["-M", "microvm,acpi=off"],
    kernel: k.vmlinux,
    append: `${base} noapictimer tsc_early_khz=${hostTscKhz()}`,
  },
  k.bzImage && { name: "pc bzImage", machine: ["-M", "pc"], kernel: k.bzImage, append: base },
].filter(Boolean);
for (let i = 0; i < args.length; i++) {
  if (args[i] !== "--try" || !k.vmlinux) continue;
  const extra = args[i + 1];
  variants.push({
    name: `PVH + ${extra}`,
    machine: ["-M", "microvm,acpi=off"],
    kernel: k.vmlinux,
    append: `${base} ${extra}`,
  });
}

try {
  const initrd = makeInitrd(tmp);
  variants.push({
    name: "floor: 9 KB PVH ELF, no kernel",
    machine: ["-M", "microvm,acpi=off"],
    kernel: makeFloor(tmp),
    append: "",
  });
  if (k.dir) console.log(`kernel: ${k.dir}`);
  for (const f of [k.bzImage, k.vmlinux].filter(Boolean)) console.log(`  ${f}: ${statSync(f).size} bytes`);
  const times = variants.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    for (const [i, v] of variants.entries()) {
      const t = await boot(v, initrd, 64);
      times[i].push(t ?? Number.NaN);
    }
  }
  const baseMed = median(times[0]);
  console.log(`QEMU start -> "${LINE}", TCG, -m 64, median of ${RUNS} (min-max), ratio to the first row:`);
  for (const [i, v] of variants.entries()) {
    const ok = times[i].filter((x) => !Number.isNaN(x));
    const med = median(ok);
    console.log(
      `  ${v.name.padEnd(56)} ${(med / 1000).toFixed(3)} s (${(Math.min(...ok) / 1000).toFixed(3)}-${(Math.max(...ok) / 1000).toFixed(3)})` +
        `  x${(med / baseMed).toFixed(2)}${ok.length < RUNS ? `  FAILED ${RUNS - ok.length}/${RUNS}` : ""}`,
    );
  }
  if (args.includes("--mem")) {
    for (const v of variants.filter((x) => /^microvm,acpi=off (bzImage|PVH vmlinux)$/.test(x.name))) {
      const okMem = [];
      for (const mem of [8, 12, 16, 18, 20, 24, 32])
        if ((await boot(v, initrd, mem, 20_000)) !== undefined) okMem.push(mem);
      console.log(
        `  smallest -m (MB) that boots, ${v.name}: ${okMem[0] ?? "none"} (booted: ${okMem.join(", ")})`,
      );
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
