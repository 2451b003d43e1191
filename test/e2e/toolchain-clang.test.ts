// The kiln toolchain over clang (flags instead of a specs file, lld, LLVM binutils), written into a
// directory whose path holds a space and a quote: every wrapper and build-system file must quote it.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import {
  copyFixture,
  exe,
  installKilngreet,
  makeToolchain,
  must,
  type TestToolchain,
} from "../fixtures/toolchain/helpers.js";
import { ROOT } from "../helpers.js";

let tc: TestToolchain;
before(async () => {
  tc = await makeToolchain("clang", "tool chain's clang");
  await installKilngreet(tc);
});
after(() => tc?.cleanup());

async function assertKilnProgram(path: string): Promise<void> {
  const info = await readElf(path);
  assert.equal(info.isStatic, true);
  assert.equal(info.interp, undefined);
  assert.deepEqual(readKilnNote(info), tc.info.note);
  assert.doesNotMatch((await must("readelf", ["-lW", path])).stdout, /\bINTERP\b/);
  assert.match((await must("file", ["-b", path])).stdout, /statically linked/);
  assert.match((await must("readelf", ["-nW", path])).stdout, /Displaying notes found in: \.note\.kiln/);
}

describe("toolchain over clang", () => {
  test("a C program is static, runs, and carries the note, also after --gc-sections and strip", async () => {
    assert.equal(tc.info.backing.kind, "clang");
    assert.match(tc.info.note.toolchain, /\(clang \d+/);
    const src = join(ROOT, "examples", "hello", "hello.c");
    const obj = join(tc.tmp, "hello.o");
    const prog = join(tc.tmp, "hello");
    // Separate compile and link, as build systems do; -Werror shows the link flags cause no warnings.
    await must(tc.tool("gcc"), ["-O2", "-Wall", "-Werror", "-c", src, "-o", obj]);
    await must(tc.tool("gcc"), ["-Wl,--gc-sections", obj, "-o", prog]);
    const r = await must(prog, ["a b"], { env: { GREETING: "Hey" } });
    assert.equal(r.stdout, "Hey from kiln!\nargv[1] = a b\n");
    await assertKilnProgram(prog);
    await must(tc.tool("strip"), [prog]);
    assert.equal((await must(prog, [])).stdout, "Hello from kiln!\n");
    await assertKilnProgram(prog);
  });

  test("probes that do not link (-v, --version, -E) leave no a.out behind", async () => {
    const cwd = join(tc.tmp, "probe");
    mkdirSync(cwd);
    for (const args of [["-v"], ["--version"], ["-dumpmachine"]]) await must(tc.tool("gcc"), args, { cwd });
    const pp = await must(tc.tool("cpp"), ["-P", "-dM", join(ROOT, "examples", "hello", "hello.c")], { cwd });
    assert.match(pp.stdout, /#define __x86_64__ 1/);
    assert.equal(existsSync(join(cwd, "a.out")), false);
  });

  test("CMake and Meson build through their files from a directory with a space and a quote", async () => {
    const cm = copyFixture(tc, "cmake");
    await must(
      "cmake",
      ["-S", cm, "-B", join(cm, "b"), `-DCMAKE_TOOLCHAIN_FILE=${tc.info.cmakeToolchainFile}`],
      {
        env: tc.env,
      },
    );
    await must("cmake", ["--build", join(cm, "b")], { env: tc.env });
    assert.equal(
      (await must(join(cm, "b", "hello"), [])).stdout,
      "cmake hello: greetings from the kiln prefix\n",
    );
    await assertKilnProgram(join(cm, "b", "hello"));

    const ms = copyFixture(tc, "meson");
    await must("meson", ["setup", "--cross-file", tc.info.mesonCrossFile, join(ms, "b"), ms], {
      env: tc.env,
    });
    await must("ninja", ["-C", join(ms, "b")], { env: tc.env });
    assert.equal(
      (await must(join(ms, "b", "hello"), [])).stdout,
      "meson hello: greetings from the kiln prefix\n",
    );
    await assertKilnProgram(join(ms, "b", "hello"));
  });

  test("shared objects are refused by the wrapper asked; -Wl,-E leaves a static program static", async () => {
    const r = await exe(tc.tool("cc"), ["-shared", join(ROOT, "examples", "hello", "hello.c")], {
      env: tc.env,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^x86_64-kiln-linux-musl-cc: error KILN_ESHARED_UNSUPPORTED/);
    assert.match(r.stderr, /Meson: /);
    // lua's makefile links with -Wl,-E; lld would give the program a DYNAMIC segment for it.
    const prog = join(tc.tmp, "exported");
    await must(tc.tool("gcc"), [
      "-Wl,-E",
      "-rdynamic",
      join(ROOT, "examples", "hello", "hello.c"),
      "-o",
      prog,
    ]);
    assert.doesNotMatch((await must("readelf", ["-lW", prog])).stdout, /\bDYNAMIC\b/);
    await assertKilnProgram(prog);
    assert.equal((await must(prog, [])).stdout, "Hello from kiln!\n");
  });
});
