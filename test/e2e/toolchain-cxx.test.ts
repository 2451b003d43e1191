// C++ through the kiln toolchain, end to end, over gcc and over clang: the C++ runtime (libstdc++ built for
// musl from Debian's gcc-12-source) comes from the shared test KILN_HOME, where scripts/test.mjs builds it
// once (`kiln toolchain --cxx`) before the tests run; a test file run alone builds it in before() (minutes).
// Real CMake, Meson and autotools build a C++17 program with a C file in it, which runs on the host and in
// a VM; a C program unwinds its own stack through libgcc_eh.a and kiln's _dl_find_object.
import assert from "node:assert/strict";
import { cpSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import { FIXTURES, must } from "../fixtures/toolchain/helpers.js";
import { runKiln, sharedHome, tmpDir } from "../helpers.js";
import { checkSboms } from "./complianceSchemas.js";

const BACKINGS = ["gcc", "clang"] as const;
type Backing = (typeof BACKINGS)[number];

interface CxxToolchain {
  dir: string;
  bin: string;
  tuple: string;
  cmakeToolchainFile: string;
  mesonCrossFile: string;
  note: { tuple: string; libc: string; toolchain: string };
  cxx: {
    state: string;
    compiler: string;
    runtime: string;
    license: string;
    note: { tuple: string; libc: string; toolchain: string; cxx: string };
  };
}

/** What the fixture prints for argument `1.2.3`, on the host and in a VM alike. */
const EXPECTED = [
  "caught: size 7 is too big",
  "threads: 4 counted 4000",
  "filesystem: 11 bytes in sub",
  "filesystem: removed yes",
  "regex: major 1 minor 2",
  "c says: hello from C (8)",
  "",
].join("\n");

const tmp = tmpDir("kiln-cxx-");
const tcs = {} as Record<Backing, CxxToolchain>;
const envFor = (b: Backing) => ({ ...process.env, PATH: `${tcs[b].bin}:${process.env.PATH}` });
const tool = (b: Backing, name: string) => join(tcs[b].bin, `${tcs[b].tuple}-${name}`);

before(async () => {
  for (const b of BACKINGS) {
    const r = await runKiln(["toolchain", "--cxx", "--cc", b, "--dir", join(tmp.path, `tc-${b}`), "--json"], {
      home: sharedHome(),
      timeoutMs: 30 * 60_000,
    });
    assert.equal(r.code, 0, r.stderr);
    tcs[b] = JSON.parse(r.stdout) as CxxToolchain;
  }
});
after(() => tmp.cleanup());

/** Static, without INTERP or DYNAMIC, carrying the C++ note. */
async function assertCxxProgram(b: Backing, path: string): Promise<void> {
  const info = await readElf(path);
  assert.equal(info.isStatic, true);
  assert.deepEqual(info.needed, []);
  assert.deepEqual(readKilnNote(info), tcs[b].cxx.note);
  assert.doesNotMatch((await must("readelf", ["-lW", path])).stdout, /\b(INTERP|DYNAMIC)\b/);
  assert.match((await must("file", ["-b", path])).stdout, /statically linked/);
}

function copyProject(name: string, into: string): string {
  const dest = join(tmp.path, into);
  cpSync(join(FIXTURES, name), dest, { recursive: true });
  return dest;
}

describe("C++ through the kiln toolchain", () => {
  test("both toolchains have C++ with the runtime built from gcc-12-source, and say so in the note", () => {
    for (const b of BACKINGS) {
      const c = tcs[b].cxx;
      assert.equal(c.state, "ready");
      assert.match(c.runtime, /^libstdc\+\+ 12\.\d+\.\d+ \(gcc-12-source 12\.[^)]+\)$/);
      assert.equal(c.license, "GPL-3.0-or-later WITH GCC-exception-3.1");
      assert.deepEqual(c.note, { ...tcs[b].note, cxx: c.runtime });
    }
  });

  test("a C program calling _Unwind_Backtrace links and runs (kiln's _dl_find_object)", async () => {
    const src = join(tmp.path, "backtrace.c");
    writeFileSync(
      src,
      `#include <stdio.h>
#include <unwind.h>
static _Unwind_Reason_Code count(struct _Unwind_Context *ctx, void *arg) {
  (void)ctx;
  ++*(int *)arg;
  return _URC_NO_REASON;
}
__attribute__((noinline)) static int depth(int k) {
  if (k > 0) return depth(k - 1) + 0 * k;
  int n = 0;
  _Unwind_Backtrace(count, &n);
  return n;
}
int main(void) { int n = depth(5); printf("frames %s\\n", n >= 7 ? "ok" : "missing"); return n >= 7 ? 0 : 1; }
`,
    );
    for (const b of BACKINGS) {
      const exe = join(tmp.path, `backtrace-${b}`);
      await must(tool(b, "gcc"), ["-O1", src, "-o", exe], { env: envFor(b) });
      assert.equal((await must(exe, [])).stdout, "frames ok\n");
      assert.match((await must("nm", [exe])).stdout, / T _dl_find_object\n/);
    }
  });

  for (const b of BACKINGS) {
    test(`CMake builds a C++17 project with a C file (over ${b}); it runs on the host`, async () => {
      const src = copyProject("cxx", `cmake-${b}`);
      const build = join(src, "b");
      await must("cmake", ["-S", src, "-B", build, `-DCMAKE_TOOLCHAIN_FILE=${tcs[b].cmakeToolchainFile}`], {
        env: envFor(b),
      });
      await must("cmake", ["--build", build, "-j", "2"], { env: envFor(b), timeoutMs: 300_000 });
      const prog = join(build, "kiln-cxx");
      assert.equal((await must(prog, ["1.2.3"])).stdout, EXPECTED);
      await assertCxxProgram(b, prog);
      const inspect = await runKiln(["inspect", prog]);
      assert.match(
        inspect.stdout,
        new RegExp(`^c\\+\\+ runtime\\s+${tcs[b].cxx.runtime.replace(/[.+()]/g, "\\$&")}$`, "m"),
      );
    });

    test(`Meson builds the same C and C++ project (over ${b})`, async () => {
      const src = copyProject("cxx", `meson-${b}`);
      const build = join(src, "b");
      await must("meson", ["setup", "--cross-file", tcs[b].mesonCrossFile, build, src], { env: envFor(b) });
      await must("meson", ["compile", "-C", build], { env: envFor(b), timeoutMs: 300_000 });
      const prog = join(build, "kiln-cxx");
      assert.equal((await must(prog, ["1.2.3"])).stdout, EXPECTED);
      await assertCxxProgram(b, prog);
    });

    test(`g++ -E finds libstdc++'s headers before musl's, as configure and ccache run it (over ${b})`, async () => {
      const src = join(tmp.path, `pp-${b}.cc`);
      writeFileSync(src, "#include <cstdlib>\n#include <cmath>\nint x = EXIT_SUCCESS;\n");
      const pp = await must(tool(b, "g++"), ["-E", src], { env: envFor(b) });
      assert.match(pp.stdout, /include\/c\+\+\/12\/cstdlib/);
      assert.match(pp.stdout, /x86_64-linux-musl\/stdlib\.h/);
    });
  }

  test("an autotools project with AC_PROG_CXX configures with --host=x86_64-kiln-linux-musl and builds", async () => {
    const src = copyProject("cxx-autotools", "autotools");
    for (const f of ["main.cpp", "cgreet.c"]) cpSync(join(FIXTURES, "cxx", f), join(src, f));
    const env = envFor("gcc");
    await must("autoreconf", ["-fi"], { cwd: src, env });
    const conf = await must("./configure", ["--host=x86_64-kiln-linux-musl"], { cwd: src, env });
    assert.match(
      conf.stdout,
      /checking for x86_64-kiln-linux-musl-g\+\+\.\.\. x86_64-kiln-linux-musl-g\+\+\n/,
    );
    assert.match(conf.stdout, /checking whether the compiler supports GNU C\+\+\.\.\. yes/);
    assert.match(conf.stdout, /checking for filesystem\.\.\. yes/);
    await must("make", ["-j2"], { cwd: src, env, timeoutMs: 300_000 });
    assert.equal((await must(join(src, "kiln-cxx"), ["1.2.3"])).stdout, EXPECTED);
    await assertCxxProgram("gcc", join(src, "kiln-cxx"));
  });

  test("kiln run of the C++ project directory builds it (CMake) and prints the same lines from inside a VM", async () => {
    const src = copyProject("cxx", "run-project");
    const r = await runKiln(["run", src, "-q", "--", "1.2.3"], { timeoutMs: 300_000 });
    assert.equal(r.code, 0, r.stderr);
    // The serial console ends lines with CR LF.
    assert.ok(r.stdout.replaceAll("\r\n", "\n").includes(EXPECTED), r.stdout);
  });

  test("the SBOM lists libstdc++ with its licence and the parts it bundles, linked into the program", async () => {
    const img = join(tmp.path, "cxx-image");
    const bake = await runKiln(["bake", "qemu", img, join(tmp.path, "cmake-clang", "b", "kiln-cxx"), "-q"]);
    assert.equal(bake.code, 0, bake.stderr);
    // Both formats valid against their official schemas, with the new parts in them.
    const { spdx } = await checkSboms(img, []);
    const doc = spdx.doc as unknown as {
      packages: { SPDXID: string; name: string; versionInfo?: string; licenseDeclared: string }[];
      relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
    };
    const pkg = (name: string) => doc.packages.find((p) => p.name === name);
    const std = pkg("libstdc++");
    assert.ok(std, JSON.stringify(doc.packages.map((p) => p.name)));
    assert.equal(std.versionInfo, /^libstdc\+\+ (\S+)/.exec(tcs.clang.cxx.runtime)![1]);
    assert.equal(std.licenseDeclared, "GPL-3.0-or-later WITH GCC-exception-3.1");
    const rel = (from: string, type: string, to: string) =>
      doc.relationships.some(
        (x) => x.spdxElementId === from && x.relationshipType === type && x.relatedSpdxElement === to,
      );
    const prog = doc.packages.find((p) => p.SPDXID.includes("program"))!;
    assert.ok(rel(prog.SPDXID, "STATIC_LINK", std.SPDXID));
    for (const [name, license] of [
      ["ryu", "Apache-2.0 OR BSL-1.0"],
      ["fast_float", "Apache-2.0 OR MIT"],
      ["pstl", "Apache-2.0 WITH LLVM-exception"],
    ] as const) {
      const part = pkg(name);
      assert.equal(part?.licenseDeclared, license, name);
      assert.ok(rel(std.SPDXID, "CONTAINS", part.SPDXID), name);
    }
  });

  test("a toolchain written before the runtime existed gets it on g++'s first use (two at once, as make -j)", async () => {
    const home = join(tmp.path, "first-use-home");
    const dir = join(tmp.path, "first-use-tc");
    const w = await runKiln(["toolchain", "--dir", dir, "--json"], { home });
    assert.equal(w.code, 0, w.stderr);
    assert.equal(JSON.parse(w.stdout).cxx.state, "on-first-use");
    // The shared home's runtime, as if built meanwhile: first use then only rewrites the toolchain.
    cpSync(join(sharedHome(), "toolchains", "c++-runtime"), join(home, "toolchains", "c++-runtime"), {
      recursive: true,
    });
    const src = join(tmp.path, "first.cc");
    writeFileSync(src, '#include <iostream>\nint main() { std::cout << "first use" << std::endl; }\n');
    const gxx = join(dir, "bin", "x86_64-kiln-linux-musl-g++");
    const [a, b] = await Promise.all(
      ["a", "b"].map((n) => must(gxx, [src, "-o", join(tmp.path, `first-${n}`)], { timeoutMs: 600_000 })),
    );
    assert.match(a.stderr + b.stderr, /building the C\+\+ runtime \(libstdc\+\+ for musl\) once/);
    for (const n of ["a", "b"])
      assert.equal((await must(join(tmp.path, `first-${n}`), [])).stdout, "first use\n");
    const after = await runKiln(["toolchain", "--dir", dir, "--json"], { home });
    assert.equal(JSON.parse(after.stdout).cxx.state, "ready");
  });
});
