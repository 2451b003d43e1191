#!/usr/bin/env node
// C++ in the kiln toolchain. (1) The one-time build of the C++ runtime (libstdc++ for musl from gcc-12-source):
// taken from the runtime's cache record when it is built (its buildSeconds: configure + make + install), else
// measured by running `kiln toolchain --cxx` once. (2) Wrapper overhead: compile and link the same C++17 file
// (test/fixtures/toolchain/cxx/main.cpp, C part compiled once) N times with x86_64-kiln-linux-musl-g++, with
// the host g++ given exactly the wrapper's arguments (its specs; no shell script), and with plain host g++
// (glibc, dynamic) as the baseline, alternating the three. (3) Size of a C++ hello (iostream) and a C hello,
// as programs and as baked images (kernel + initrd). Needs `npm run build`; uses KILN_BENCH_HOME.
// Usage: node bench/cxx.mjs [N]
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENV, HOME, kiln, ROOT, row, timeSync } from "./lib.mjs";

const N = Number(process.argv[2] ?? 9);
const work = join(tmpdir(), `kiln-bench-cxx-${process.pid}`);
mkdirSync(work, { recursive: true });
try {
  // (1) The runtime.
  const root = join(HOME, "toolchains", "c++-runtime");
  const built = () =>
    existsSync(root)
      ? readdirSync(root).filter((n) => /^[0-9a-f]{64}$/.test(n) && existsSync(join(root, n, "info.json")))
      : [];
  let measured;
  if (built().length === 0) {
    const t = performance.now();
    kiln(["toolchain", "--cxx", "--quiet"]);
    measured = (performance.now() - t) / 1000;
  } else kiln(["toolchain", "--cxx", "--quiet"]);
  const info = JSON.parse(readFileSync(join(root, built()[0], "info.json"), "utf8"));
  console.log(`C++ runtime: ${info.label}, built with ${info.builtWith}`);
  console.log(
    `  one-time build (configure + make + install, from its cache record): ${info.buildSeconds} s` +
      (measured ? `; kiln toolchain --cxx including download and unpacking: ${measured.toFixed(1)} s` : ""),
  );
  const libs = Object.entries(info.files).map(
    ([f, x]) => `${f.replace("lib/", "")} ${(x.size / 1e6).toFixed(2)} MB`,
  );
  console.log(`  ${libs.join(", ")}`);

  // (2) Wrapper overhead.
  const bin = join(HOME, "toolchains", "default", "bin");
  const gxx = join(bin, "x86_64-kiln-linux-musl-g++");
  const fx = join(ROOT, "test", "fixtures", "toolchain", "cxx");
  const cobj = join(work, "cgreet.o");
  const hostC = join(work, "cgreet-host.o");
  spawnSync(join(bin, "x86_64-kiln-linux-musl-gcc"), ["-O2", "-c", join(fx, "cgreet.c"), "-o", cobj], {
    env: ENV,
  });
  spawnSync("gcc", ["-O2", "-c", join(fx, "cgreet.c"), "-o", hostC]);
  const args = ["-O2", "-std=c++17", join(fx, "main.cpp")];
  // The wrapper's last line is `exec '/usr/bin/g++' -specs='...' -static "$@"`: the same, without the script.
  const execLine = readFileSync(gxx, "utf8").trim().split("\n").at(-1);
  const m = /^exec '([^']+)' -specs='([^']+)' -static "\$@"$/.exec(execLine);
  if (!m) throw new Error(`unexpected g++ wrapper (backing clang?): ${execLine}`);
  const runs = { plain: [], direct: [], wrapper: [] };
  const once = () => {
    runs.plain.push(timeSync("g++", [...args, hostC, "-o", join(work, "plain")]));
    runs.direct.push(
      timeSync(m[1], [`-specs=${m[2]}`, "-static", ...args, cobj, "-o", join(work, "direct")]),
    );
    runs.wrapper.push(timeSync(gxx, [...args, cobj, "-o", join(work, "wrapper")]));
  };
  once(); // warm the page cache
  for (const k of Object.keys(runs)) runs[k] = [];
  for (let i = 0; i < N; i++) once();
  console.log(`\ncompile + link test/fixtures/toolchain/cxx/main.cpp -O2 -std=c++17, n=${N}`);
  const base = row("baseline: host g++ (glibc, dynamic)", runs.plain);
  row("host g++ with the wrapper's specs (static musl)", runs.direct, base);
  row("x86_64-kiln-linux-musl-g++", runs.wrapper, base);

  // (3) Sizes.
  const hello = {
    c: [
      "x86_64-kiln-linux-musl-gcc",
      "hello.c",
      '#include <stdio.h>\nint main(void) { puts("Hello from kiln!"); return 0; }\n',
    ],
    "c++": [
      "x86_64-kiln-linux-musl-g++",
      "hello.cc",
      '#include <iostream>\nint main() { std::cout << "Hello from kiln!" << std::endl; return 0; }\n',
    ],
  };
  console.log("\nhello, -Os -s, baked for qemu (default kernel)");
  for (const [lang, [tool, file, text]] of Object.entries(hello)) {
    const src = join(work, file);
    const exe = join(work, `hello-${lang}`);
    writeFileSync(src, text);
    const r = spawnSync(join(bin, tool), ["-Os", "-s", src, "-o", exe], { env: ENV, encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    const img = join(work, `img-${lang}`);
    kiln(["bake", "qemu", img, exe, "--force", "--quiet"]);
    const manifest = JSON.parse(readFileSync(join(img, "manifest.json"), "utf8"));
    const initrd = statSync(join(img, "initrd")).size;
    const kernel = statSync(join(img, "kernel")).size;
    console.log(
      `  ${lang.padEnd(4)} program ${String(statSync(exe).size).padStart(8)} B   initrd ${String(initrd).padStart(8)} B   image ${((initrd + kernel) / 1e6).toFixed(2)} MB (${manifest.kernel?.kind ?? "?"} kernel)`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
