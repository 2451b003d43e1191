// Every build system a recipe can name, with real tools, each linking the catalogue's kz library found in
// kiln's prefix through the toolchain's pkg-config: Meson, autotools (autoreconf, configure --host), a
// script; plus local path sources and patches. (make and CMake: packages/kz and packages/kzcat, pkg.test.ts.)
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import type { InstallReport } from "../../src/pkg/install.js";
import { run, tmpDir } from "../helpers.js";
import { type FileServer, kilnJson, PACKAGES, sourceMirror } from "./pkgFixture.js";

const work = tmpDir("kiln-pkg-bs-");
const home = join(work.path, "home");
const repo = join(work.path, "recipes");
let mirror: FileServer;

const MAIN_C = `#include <stdio.h>
#include <kz.h>
int main(void) { printf("%s via ${"@SYSTEM@"}\\n", kz_version()); return 0; }
`;

function write(rel: string, text: string): void {
  const p = join(repo, rel);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
}

before(async () => {
  mirror = await sourceMirror(join(work.path, "mirror"));
  const recipe = (name: string, system: string, extra = "") =>
    `name = "${name}"\nversion = "0.1.0"\nlicense = "MIT"\n[[sources]]\npath = "src"\n${extra}[build]\nsystem = "${system}"\n[build-dependencies]\nkz = "^1"\n[provides]\nprograms = ["bin/${name}"]\n`;

  write("hello-meson/kiln.toml", recipe("hello-meson", "meson"));
  write("hello-meson/src/main.c", MAIN_C.replace("@SYSTEM@", "meson"));
  write(
    "hello-meson/src/meson.build",
    "project('hello-meson', 'c')\nexecutable('hello-meson', 'main.c', dependencies: dependency('kz', static: true), install: true)\n",
  );

  write("hello-autotools/kiln.toml", recipe("hello-autotools", "autotools"));
  write("hello-autotools/src/main.c", MAIN_C.replace("@SYSTEM@", "autotools"));
  write(
    "hello-autotools/src/configure.ac",
    "AC_INIT([hello-autotools], [0.1.0])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nPKG_CHECK_MODULES([KZ], [kz >= 1.0])\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
  );
  write(
    "hello-autotools/src/Makefile.am",
    "bin_PROGRAMS = hello-autotools\nhello_autotools_SOURCES = main.c\nhello_autotools_CFLAGS = $(KZ_CFLAGS)\nhello_autotools_LDADD = $(KZ_LIBS)\n",
  );

  // A script build over a patched local source.
  write(
    "patched/kiln.toml",
    `name = "patched"\nversion = "0.1.0"\nlicense = "MIT"\n[[sources]]\npath = "src"\npatches = ["fix.patch"]\n[build]\nsystem = "script"\nscript = ['mkdir -p "$DESTDIR$PREFIX/share/patched"', 'cp msg.txt "$DESTDIR$PREFIX/share/patched/msg.txt"']\n[provides]\ndata = ["share/patched/msg.txt"]\n`,
  );
  write("patched/src/msg.txt", "before the patch\n");
  write(
    "patched/fix.patch",
    "--- a/msg.txt\n+++ b/msg.txt\n@@ -1 +1 @@\n-before the patch\n+after the patch\n",
  );

  mkdirSync(join(work.path, "project"), { recursive: true });
  writeFileSync(
    join(work.path, "project", "kiln.toml"),
    `repositories = [${JSON.stringify(repo)}, ${JSON.stringify(PACKAGES)}]\n[dependencies]\nhello-meson = "*"\nhello-autotools = "*"\npatched = "*"\n`,
  );
});
after(async () => {
  await mirror?.close();
  work.cleanup();
});

it("meson, autotools and a patched script build, each through the kiln toolchain", async () => {
  const { r, json } = await kilnJson<InstallReport>(home, [
    "pkg",
    "install",
    join(work.path, "project"),
    "--mirror",
    mirror.url,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    json.packages.map((p) => [p.name, p.how]),
    [
      ["kz", "built"],
      ["hello-autotools", "built"],
      ["hello-meson", "built"],
      ["patched", "built"],
    ],
  );
  for (const system of ["meson", "autotools"]) {
    const prog = json.packages.find((p) => p.name === `hello-${system}`)!.programs[0]!;
    const elf = await readElf(prog);
    assert.ok(elf.isStatic && readKilnNote(elf), `hello-${system} is a static kiln program`);
    const out = await run(prog, []);
    assert.equal(out.stdout, `kz 1.0.0 via ${system}\n`);
  }
  assert.equal(readFileSync(join(json.prefix, "share", "patched", "msg.txt"), "utf8"), "after the patch\n");
});
