#!/usr/bin/env node
// What kiln-init costs at boot: QEMU start -> the program's first line, and -> QEMU's exit, with kiln-init
// as /init running a static hello, against a bare static /init that prints the same line and powers off
// (the baseline, measured in the same invocation, runs interleaved). Debian's stock cloud kernel from
// .kiln-test/kernel (test/e2e/guest-boot.test.ts fetches it), microvm, KVM if it boots Linux here, else TCG.
//   npm run build && node guest/bench/boot.mjs [--runs 5]
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const { ensureKilnInit } = await import(join(ROOT, "dist", "bake", "kilnInit.js"));
const { chooseAccel } = await import(join(ROOT, "dist", "launch", "accel.js"));
const argv = process.argv.slice(2);
const RUNS = Number(argv[argv.indexOf("--runs") + 1] || 5) || 5;
const CC = process.env.KILN_TEST_MUSL_CC ?? "musl-gcc";
const LINE = "hello from kiln";
const APPEND =
  "console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=2096000 no_timer_check tsc=reliable cryptomgr.notests=1";

const boot = join(ROOT, ".kiln-test", "kernel", "unpacked", "boot");
const vmlinuz = join(
  boot,
  readdirSync(boot).find((n) => n.startsWith("vmlinuz-")),
);
const dir = mkdtempSync(join(tmpdir(), "kiln-boot-bench-"));

function initrd(name, files) {
  const stage = join(dir, `stage-${name}`);
  for (const [path, src] of Object.entries(files)) {
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    if (src.file) execFileSync("cp", [src.file, join(stage, path)]);
    else writeFileSync(join(stage, path), src.data);
  }
  const out = join(dir, `${name}.initrd`);
  const list = execFileSync("find", ["."], { cwd: stage, encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .sort();
  execFileSync("cpio", ["-o", "-H", "newc", "--quiet", "--reproducible", "--owner=0:0", "-O", out], {
    cwd: stage,
    input: `${list.join("\n")}\n`,
  });
  return out;
}

const cfile = (name, text) => {
  writeFileSync(join(dir, `${name}.c`), text);
  execFileSync(CC, ["-static", "-Os", "-s", "-o", join(dir, name), join(dir, `${name}.c`)]);
  return join(dir, name);
};
// Both print the line with the guest's CLOCK_MONOTONIC (seconds since the kernel started), which leaves
// out QEMU's own start and the kernel load, the noisiest parts on a busy host.
const stamp = `struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);char b[64];int n=snprintf(b,sizeof b,"${LINE} %ld.%06ld\\n",(long)t.tv_sec,t.tv_nsec/1000);`;
const hello = cfile(
  "hello",
  `#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\nint main(void){${stamp}write(1,b,n);return 0;}\n`,
);
const bare = cfile(
  "bare",
  `#include <stdio.h>\n#include <time.h>\n#include <unistd.h>\n#include <sys/reboot.h>\nint main(void){${stamp}write(1,b,n);sync();reboot(RB_POWER_OFF);for(;;)pause();}\n`,
);
const init = await ensureKilnInit({ cc: CC, cacheDir: join(ROOT, ".kiln-test", "kiln-init") });
const images = {
  baseline: initrd("bare", { "/init": { file: bare } }),
  "kiln-init": initrd("kiln", {
    "/init": { file: init.path },
    "/bin/hello": { file: hello },
    "/kiln/image.json": { data: JSON.stringify({ v: 1, rc: [{ bin: "/bin/hello" }] }) },
  }),
};
const accel = (await chooseAccel("auto", "qemu-system-x86_64", vmlinuz)).accel;

function once(img, append = APPEND) {
  return new Promise((res, rej) => {
    const t = performance.now();
    let first;
    let guest;
    let out = "";
    const child = spawn(
      "qemu-system-x86_64",
      [
        "-M",
        "microvm",
        "-accel",
        accel,
        "-m",
        "128",
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        vmlinuz,
        "-initrd",
        img,
        "-append",
        append,
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.on("data", (b) => {
      out += b;
      const m = new RegExp(`${LINE} (\\d+\\.\\d+)\\r\\n`).exec(out);
      if (first === undefined && m) {
        first = performance.now() - t;
        guest = Number(m[1]) * 1000;
      }
    });
    child.on("close", () => {
      clearTimeout(timer);
      if (first === undefined) rej(new Error(`no line: ${out.slice(-400)}`));
      else {
        // With kiln.debug=1: kiln-init's own time, from its first instruction to the program's first line.
        const start = /kiln: debug: (\d+\.\d+) s started\r\n/.exec(out);
        const own = start ? guest - Number(start[1]) * 1000 : undefined;
        res({ line: first, guest, own, exit: performance.now() - t });
      }
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const results = { baseline: [], "kiln-init": [] };
await once(images.baseline); // warm the page cache
for (let i = 0; i < RUNS; i++) for (const k of Object.keys(images)) results[k].push(await once(images[k]));
console.log(`accel ${accel}, ${RUNS} runs each, kiln-init ${init.size} bytes`);
const base = median(results.baseline.map((r) => r.line));
const baseExit = median(results.baseline.map((r) => r.exit));
const baseGuest = median(results.baseline.map((r) => r.guest));
for (const [k, rs] of Object.entries(results)) {
  const line = median(rs.map((r) => r.line));
  const exit = median(rs.map((r) => r.exit));
  const guest = median(rs.map((r) => r.guest));
  const range = `${Math.min(...rs.map((r) => r.line)).toFixed(0)}-${Math.max(...rs.map((r) => r.line)).toFixed(0)}`;
  console.log(
    `${k.padEnd(10)} start->line ${line.toFixed(0)} ms (${range}) x${(line / base).toFixed(3)}   start->exit ${exit.toFixed(0)} ms x${(exit / baseExit).toFixed(3)}   guest clock at line ${guest.toFixed(0)} ms x${(guest / baseGuest).toFixed(3)}`,
  );
}
const own = [];
for (let i = 0; i < RUNS; i++) own.push((await once(images["kiln-init"], `${APPEND} kiln.debug=1`)).own);
console.log(
  `kiln-init's own time (kiln.debug=1, guest clock, init start -> program's line): median ${median(own).toFixed(0)} ms, min ${Math.min(...own).toFixed(0)} ms`,
);
rmSync(dir, { recursive: true, force: true });
