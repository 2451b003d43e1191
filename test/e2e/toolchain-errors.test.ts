// Bad input to `kiln toolchain` loses nothing: unknown and unsupported compilers, existing directories,
// unwritable places and a compiler that breaks part-way all end in a stable error and leave no
// half-written directory. Also the default toolchain that `kiln toolchain env` (and bake) ensure.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { must } from "../fixtures/toolchain/helpers.js";
import { runKiln, tmpDir } from "../helpers.js";

let t: { path: string; cleanup(): void };
let home: string;
let fakeBin: string;
before(() => {
  t = tmpDir("kiln-tc-err-");
  home = join(t.path, "home");
  fakeBin = join(t.path, "fake-bin");
  mkdirSync(fakeBin);
  const script = (name: string, body: string) => {
    writeFileSync(join(fakeBin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(fakeBin, name), 0o755);
  };
  script("tcc", 'echo "tcc version 0.9.27 (x86_64 Linux)"');
  script(
    "aarch64-gcc",
    'case "$1" in -v) echo "gcc version 12.2.0" >&2 ;; -dumpmachine) echo aarch64-linux-gnu ;; esac',
  );
  // Says it is gcc and compiles, but every link fails: the toolchain is half written when this shows.
  script(
    "brokengcc",
    'case " $* " in *" -v "*) exec gcc -v ;; *" -dumpmachine "*|*" -c "*) exec gcc "$@" ;; esac\necho "ld: cannot link today" >&2; exit 1',
  );
});
after(() => t?.cleanup());

const kiln = (args: string[], env: NodeJS.ProcessEnv = {}) => runKiln(args, { home, env });
/** Entries of a directory: a failed write must not leave its temporary directory behind. */
const entries = (dir: string) => readdirSync(dir).sort();

describe("kiln toolchain: bad input", () => {
  test("an unknown compiler is KILN_ECC_NOT_FOUND with an install hint", async () => {
    const r = await kiln(["toolchain", "--cc", "no-such-cc-42", "--dir", join(t.path, "nf")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error KILN_ECC_NOT_FOUND: Cannot find compiler "no-such-cc-42" on PATH/);
    assert.match(r.stderr, /hint: .*apt-get install gcc/);
    const j = await kiln(["toolchain", "--json", "--dir", join(t.path, "nf")], { CC: "/nonexistent/cc" });
    assert.equal(JSON.parse(j.stdout).error.code, "KILN_ECC_NOT_FOUND");
    assert.equal(statSync(join(t.path, "nf"), { throwIfNoEntry: false }), undefined);
  });

  test("a compiler that is not gcc or clang for x86_64 is KILN_ECC_UNSUPPORTED", async () => {
    const env = { PATH: `${fakeBin}:${process.env.PATH}` };
    for (const cc of ["/bin/true", "tcc", "aarch64-gcc"]) {
      const r = await kiln(["toolchain", "--cc", cc, "--dir", join(t.path, "un")], env);
      assert.equal(r.code, 2, `${cc}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`error KILN_ECC_UNSUPPORTED: Cannot build a kiln toolchain on "${cc}"`),
      );
      assert.match(r.stderr, /hint: .*--cc gcc or --cc clang/);
    }
    assert.equal(statSync(join(t.path, "un"), { throwIfNoEntry: false }), undefined);
  });

  test("an existing directory is kept without --force, replaced with it; a kiln wrapper is no backing compiler", async () => {
    const dir = join(t.path, "existing");
    mkdirSync(dir);
    writeFileSync(join(dir, "mine.txt"), "keep me");
    const r = await kiln(["toolchain", "--dir", dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error KILN_ETOOLCHAIN_EXISTS: .*existing/);
    assert.match(r.stderr, /hint: Add --force/);
    assert.deepEqual(entries(dir), ["mine.txt"]);

    const forced = await kiln(["toolchain", "--dir", dir, "--cc", "gcc", "--force", "--json"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).backing.kind, "gcc");
    assert.ok(!entries(dir).includes("mine.txt"));

    // The same directory over another compiler is "something else" too.
    const other = await kiln(["toolchain", "--dir", dir, "--cc", "clang"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /KILN_ETOOLCHAIN_EXISTS/);

    const self = await kiln(["toolchain", "--dir", join(t.path, "selfref")], {
      CC: join(dir, "bin", "x86_64-kiln-linux-musl-gcc"),
    });
    assert.equal(self.code, 2);
    assert.match(self.stderr, /KILN_ECC_UNSUPPORTED: .*it is a kiln wrapper itself/);
  });

  test("a compiler that fails part-way leaves nothing, and an existing toolchain survives a failed --force", async () => {
    const env = { PATH: `${fakeBin}:${process.env.PATH}` };
    const parent = join(t.path, "midway");
    mkdirSync(parent);
    const r = await kiln(["toolchain", "--cc", "brokengcc", "--dir", join(parent, "tc")], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error KILN_ETOOLCHAIN_BROKEN: .*cannot link today/s);
    assert.deepEqual(entries(parent), []);

    const good = join(parent, "good");
    assert.equal((await kiln(["toolchain", "--cc", "gcc", "--dir", good])).code, 0);
    const before = readFileSync(join(good, "toolchain.json"), "utf8");
    const again = await kiln(["toolchain", "--cc", "brokengcc", "--dir", good, "--force"], env);
    assert.equal(again.code, 1);
    assert.equal(readFileSync(join(good, "toolchain.json"), "utf8"), before);
    assert.deepEqual(entries(parent), ["good"]);
    const src = join(parent, "ok.c");
    writeFileSync(src, "int main(void) { return 7; }\n");
    await must(join(good, "bin", "x86_64-kiln-linux-musl-gcc"), [src, "-o", join(t.path, "ok")]);
  });

  test("an unwritable place is KILN_ETOOLCHAIN_WRITE and creates nothing", async () => {
    const file = join(t.path, "a-file");
    writeFileSync(file, "not a directory");
    const r = await kiln(["toolchain", "--dir", join(file, "sub", "tc")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error KILN_ETOOLCHAIN_WRITE: Cannot write the toolchain to ".*a-file\/sub\/tc"/);
    assert.equal(readFileSync(file, "utf8"), "not a directory");
    const colon = await kiln(["toolchain", "--dir", join(t.path, "a:b")]);
    assert.equal(colon.code, 2);
    assert.match(colon.stderr, /KILN_ETOOLCHAIN_PATH/);
  });
});

describe("the default toolchain", () => {
  test("kiln toolchain env writes it once, reuses it, and follows $CC", async () => {
    const r = await kiln(["toolchain", "env"]);
    assert.equal(r.code, 0, r.stderr);
    const bin = join(home, "toolchains", "default", "bin");
    assert.equal(r.stdout, `export PATH=${bin}:"$PATH"\n`);
    const json = join(home, "toolchains", "default", "toolchain.json");
    const first = statSync(json).mtimeMs;
    assert.equal((await kiln(["toolchain", "env"])).code, 0);
    assert.equal(statSync(json).mtimeMs, first);

    const clang = await kiln(["toolchain", "env", "--json"], { CC: "clang" });
    assert.equal(clang.code, 0, clang.stderr);
    assert.equal(JSON.parse(clang.stdout).bin, bin);
    assert.equal(JSON.parse(readFileSync(json, "utf8")).backing.kind, "clang");
    // Without $CC, the default keeps the compiler it was made with.
    assert.equal((await kiln(["toolchain", "env"], { CC: "" })).code, 0);
    assert.equal(JSON.parse(readFileSync(json, "utf8")).backing.kind, "clang");

    const missing = await kiln(["toolchain", "env", "--dir", join(t.path, "nowhere")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /KILN_ETOOLCHAIN_MISSING/);
  });
});
