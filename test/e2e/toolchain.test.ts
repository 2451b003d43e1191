// The kiln toolchain over the host gcc, end to end: the real CLI writes it, real build systems (make,
// autotools, CMake, Meson) use it, and what they make is checked with kiln's ELF reader and Debian's tools.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import {
  copyFixture,
  installKilngreet,
  makeToolchain,
  must,
  exe as run,
  type TestToolchain,
} from "../fixtures/toolchain/helpers.js";
import { ROOT, runKiln } from "../helpers.js";

let tc: TestToolchain;
before(async () => {
  tc = await makeToolchain("gcc");
  await installKilngreet(tc);
});
after(() => tc?.cleanup());

/** Static, no PT_INTERP (by our reader and by readelf/file), and carrying the toolchain's note. */
async function assertKilnProgram(path: string): Promise<void> {
  const info = await readElf(path);
  assert.equal(info.isStatic, true, `${path} is static`);
  assert.deepEqual(info.needed, []);
  assert.deepEqual(readKilnNote(info), tc.info.note);
  const segments = (await must("readelf", ["-lW", path])).stdout;
  assert.doesNotMatch(segments, /\bINTERP\b/);
  assert.match(segments, /\bNOTE\b/);
  assert.match((await must("file", ["-b", path])).stdout, /statically linked/);
  const notes = (await must("readelf", ["-nW", path])).stdout;
  assert.match(notes, /Displaying notes found in: \.note\.kiln\n.*\n\s+kiln\s+0x/);
  const strings = (await must("readelf", ["-p", ".note.kiln", path])).stdout;
  assert.ok(strings.includes(`toolchain=${tc.info.note.toolchain}`), strings);
}

describe("toolchain over gcc", () => {
  test("kiln toolchain writes every tool, and reports the same toolchain again without rewriting it", async () => {
    assert.equal(tc.info.backing.kind, "gcc");
    assert.match(tc.info.note.toolchain, /^kiln \d+\.\d+\.\d+ \(gcc \d+/);
    assert.match(tc.info.note.libc, /^musl \d/);
    for (const t of [
      "cc",
      "gcc",
      "c++",
      "g++",
      "cpp",
      "ld",
      "ar",
      "as",
      "ranlib",
      "nm",
      "strip",
      "objcopy",
    ].concat(["objdump", "readelf", "size", "strings", "pkg-config"])) {
      await must("sh", ["-c", 'test -x "$1"', "sh", tc.tool(t)]);
    }
    const again = await runKiln(["toolchain", "--cc", "gcc", "--dir", tc.info.dir, "--json"], {
      home: tc.home,
    });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).written, false);
    const human = await runKiln(["toolchain", "--cc", "gcc", "--dir", tc.info.dir], { home: tc.home });
    assert.ok(human.stdout.includes(tc.info.dir), human.stdout);
  });

  test("examples/hello builds with make CC=x86_64-kiln-linux-musl-gcc into a static program that runs", async () => {
    const src = join(tc.tmp, "hello");
    cpSync(join(ROOT, "examples", "hello"), src, { recursive: true });
    await must("make", ["-s", "CC=x86_64-kiln-linux-musl-gcc"], { cwd: src, env: tc.env });
    const exe = join(src, "hello");
    const r = await must(exe, ["world", "two words"], { env: { GREETING: "Hi" } });
    assert.equal(r.stdout, "Hi from kiln!\nargv[1] = world\nargv[2] = two words\n");
    await assertKilnProgram(exe);
  });

  test("the note survives --gc-sections, -s and the toolchain's strip", async () => {
    const exe = join(tc.tmp, "gc");
    const src = join(ROOT, "examples", "hello", "hello.c");
    await must(tc.tool("gcc"), ["-Os", "-ffunction-sections", "-Wl,--gc-sections", "-s", src, "-o", exe]);
    await must(tc.tool("strip"), ["--strip-all", exe]);
    assert.equal((await must(exe, [])).stdout, "Hello from kiln!\n");
    await assertKilnProgram(exe);
  });

  test("an autotools project builds with ./configure --host=x86_64-kiln-linux-musl && make", async () => {
    const src = copyFixture(tc, "autotools");
    await must("autoreconf", ["-fi"], { cwd: src, env: tc.env });
    await must("./configure", ["--host=x86_64-kiln-linux-musl"], { cwd: src, env: tc.env });
    await must("make", ["-s"], { cwd: src, env: tc.env });
    const r = await must(join(src, "hello"), []);
    assert.equal(
      r.stdout,
      "autotools hello for x86_64-kiln-linux-musl: greetings from the kiln prefix\nconfigure found getrandom in musl\n",
    );
    await assertKilnProgram(join(src, "hello"));
  });

  test("a CMake project builds through the toolchain file", async () => {
    const src = copyFixture(tc, "cmake");
    const build = join(src, "build");
    await must("cmake", ["-S", src, "-B", build, `-DCMAKE_TOOLCHAIN_FILE=${tc.info.cmakeToolchainFile}`], {
      env: tc.env,
    });
    await must("cmake", ["--build", build], { env: tc.env });
    assert.equal(
      (await must(join(build, "hello"), [])).stdout,
      "cmake hello: greetings from the kiln prefix\n",
    );
    await assertKilnProgram(join(build, "hello"));
  });

  test("a Meson project builds through the cross file", async () => {
    const src = copyFixture(tc, "meson");
    const build = join(src, "build");
    await must("meson", ["setup", "--cross-file", tc.info.mesonCrossFile, build, src], { env: tc.env });
    await must("ninja", ["-C", build], { env: tc.env });
    assert.equal(
      (await must(join(build, "hello"), [])).stdout,
      "meson hello: greetings from the kiln prefix\n",
    );
    await assertKilnProgram(join(build, "hello"));
  });

  test("pkg-config sees kiln's prefix and never the host's .pc files", async () => {
    const pc = tc.tool("pkg-config");
    // The host pkg-config does see the host directory: the test set-up is real.
    assert.match(
      (await must("pkg-config", ["--cflags", "kilngreet"], { env: tc.env })).stdout,
      /KILN_HOST_LEAK/,
    );
    const cflags = (await must(pc, ["--cflags", "kilngreet"], { env: tc.env })).stdout.trim();
    assert.equal(cflags, `-I${tc.info.prefix}/include`);
    const libs = (await must(pc, ["--libs", "kilngreet"], { env: tc.env })).stdout.trim();
    assert.equal(libs, `-L${tc.info.prefix}/lib -lkilngreet`);
    assert.notEqual((await run(pc, ["--exists", "hostonly"], { env: tc.env })).code, 0);
    const hostList = (await must("pkg-config", ["--list-all"], { env: { ...tc.env, PKG_CONFIG_PATH: "" } }))
      .stdout;
    const hostPkg = hostList.split("\n")[0]?.split(/\s/)[0];
    if (hostPkg) {
      const seen = await run(pc, ["--exists", hostPkg], {
        env: { ...tc.env, PKG_CONFIG_LIBDIR: "/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/share/pkgconfig" },
      });
      assert.notEqual(seen.code, 0, `the wrapper found the host's ${hostPkg}`);
    }
    const list = (await must(pc, ["--list-all"], { env: tc.env })).stdout;
    assert.deepEqual(
      list
        .trim()
        .split("\n")
        .map((l) => l.split(/\s/)[0]),
      ["kilngreet"],
    );
  });

  test("a library in kiln's prefix is found by plain cc -lfoo, CMake's find_library and Meson's find_library", async () => {
    const src = copyFixture(tc, "prefix-find");
    const exe = join(tc.tmp, "prefix-cc");
    // No -I, no -L: the wrappers search the prefix after everything the user names.
    await must(tc.tool("cc"), [join(src, "hello.c"), "-lkilngreet", "-o", exe], { env: tc.env });
    const want = "found in the prefix: greetings from the kiln prefix\n";
    assert.equal((await run(exe, [])).stdout, want);
    await assertKilnProgram(exe);

    await must(
      "cmake",
      ["-S", src, "-B", join(src, "b"), `-DCMAKE_TOOLCHAIN_FILE=${tc.info.cmakeToolchainFile}`],
      {
        env: tc.env,
      },
    );
    const cache = readFileSync(join(src, "b", "CMakeCache.txt"), "utf8");
    assert.ok(cache.includes(`GREET_LIB:FILEPATH=${tc.info.prefix}/lib/libkilngreet.a`), cache);
    await must("cmake", ["--build", join(src, "b")], { env: tc.env });
    assert.equal((await run(join(src, "b", "hello"), [])).stdout, want);

    await must("meson", ["setup", "--cross-file", tc.info.mesonCrossFile, join(src, "m"), src], {
      env: tc.env,
    });
    await must("meson", ["compile", "-C", join(src, "m")], { env: tc.env });
    assert.equal((await run(join(src, "m", "hello"), [])).stdout, want);
  });

  test("a C program calling _Unwind_Backtrace links and runs: kiln's _dl_find_object stands in for glibc's", async () => {
    const src = join(tc.tmp, "unwind.c");
    writeFileSync(
      src,
      '#include <stdio.h>\n#include <unwind.h>\nstatic _Unwind_Reason_Code f(struct _Unwind_Context *c, void *n) { (void)c; ++*(int *)n; return _URC_NO_REASON; }\nint main(void) { int n = 0; _Unwind_Backtrace(f, &n); printf("%s\\n", n >= 2 ? "unwound" : "no frames"); return 0; }\n',
    );
    const exe = join(tc.tmp, "unwind");
    await must(tc.tool("gcc"), [src, "-o", exe], { env: tc.env });
    assert.equal((await run(exe, [])).stdout, "unwound\n");
    await assertKilnProgram(exe);
  });

  test("-shared is refused by the wrapper that was asked, with a hint for each kind of build", async () => {
    const src = join(ROOT, "examples", "hello", "hello.c");
    for (const tool of ["gcc", "cc"]) {
      const r = await run(tc.tool(tool), ["-shared", "-fPIC", src, "-o", join(tc.tmp, "x.so")], {
        env: tc.env,
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^x86_64-kiln-linux-musl-${tool}: error KILN_ESHARED_UNSUPPORTED: `));
      assert.doesNotMatch(r.stderr, /^gcc: /m);
      for (const kind of ["autotools: ./configure", "CMake:", "Meson:", "plain make:"])
        assert.ok(r.stderr.includes(kind), `${kind} in ${r.stderr}`);
    }
  });

  test("without the C++ runtime, g++ and c++ say they build it on first use (kiln toolchain --cxx)", async () => {
    // This toolchain's KILN_HOME is fresh: running g++ would build the runtime (minutes); the C++ tests
    // (toolchain-cxx.test.ts) use the shared home's.
    const info = tc.info as typeof tc.info & { cxx: { state: string; compiler: string } };
    assert.equal(info.cxx.state, "on-first-use");
    assert.equal(info.cxx.compiler, tc.tool("g++"));
    for (const name of ["g++", "c++"]) {
      const script = readFileSync(tc.tool(name), "utf8");
      assert.ok(script.includes("'toolchain' '--cxx' '--dir'"), script);
      assert.ok(script.includes(`KILN_HOME='${tc.home}'`), script);
    }
  });

  test("kiln inspect shows the note of a built program, and a host program as dynamic", async () => {
    const exe = join(tc.tmp, "inspect-me");
    await must(tc.tool("gcc"), [join(ROOT, "examples", "hello", "hello.c"), "-o", exe]);
    const human = await runKiln(["inspect", exe], { home: tc.home });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /linking\s+static/);
    assert.match(human.stdout, new RegExp(`toolchain\\s+${tc.info.note.toolchain.replace(/[()]/g, "\\$&")}`));
    assert.match(human.stdout, /tuple\s+x86_64-kiln-linux-musl/);
    const json = JSON.parse((await runKiln(["inspect", "--json", exe], { home: tc.home })).stdout);
    assert.equal(json.linking, "static");
    assert.deepEqual(json.kiln, tc.info.note);

    const ls = await runKiln(["inspect", "--json", "/bin/ls"], { home: tc.home });
    const lsInfo = JSON.parse(ls.stdout);
    const readelfNeeded = [
      ...(await must("readelf", ["-d", "/bin/ls"])).stdout.matchAll(
        /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g,
      ),
    ].map((m) => m[1]);
    assert.equal(lsInfo.linking, "dynamic");
    assert.deepEqual(lsInfo.needed, readelfNeeded);
    assert.equal(lsInfo.kiln, null);
    const lsHuman = await runKiln(["inspect", "/bin/ls"], { home: tc.home });
    assert.match(lsHuman.stdout, /linking\s+dynamic/);
    assert.match(lsHuman.stdout, /needed\s+.*libc\.so\.6/);

    const bad = await runKiln(["inspect", join(ROOT, "examples", "hello", "hello.c")], { home: tc.home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KILN_ENOT_ELF: Cannot read ".*hello\.c" as an ELF file/);
  });

  test("kiln toolchain env --dir prints a PATH line a shell can eval", async () => {
    const r = await runKiln(["toolchain", "env", "--dir", tc.info.dir], { home: tc.home });
    assert.equal(r.code, 0, r.stderr);
    const found = await must("sh", [
      "-c",
      `eval "$1"; command -v x86_64-kiln-linux-musl-gcc`,
      "sh",
      r.stdout,
    ]);
    assert.equal(found.stdout.trim(), tc.tool("gcc"));
  });
});
