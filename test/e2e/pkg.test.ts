// The package story end to end, with real tools: a project adds an app recipe (kzcat) that depends on a
// library recipe (kz) from the catalogue; `kiln pkg install` resolves, fetches the sources from a loopback
// mirror, builds both with the kiln toolchain (kz with make, kzcat with CMake finding kz through the
// toolchain's pkg-config), locks and installs them; the app is baked and booted under QEMU and prints a
// line only the library computes. Then: the fast second install, --frozen, lock determinism, pkg build.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import type { InstallReport } from "../../src/pkg/install.js";
import { runKiln, sharedHome, tmpDir } from "../helpers.js";
import { adler32, type FileServer, kilnJson, PACKAGES, sourceMirror } from "./pkgFixture.js";

const work = tmpDir("kiln-pkg-");
const home = join(work.path, "home");
const project = join(work.path, "project");
let mirror: FileServer;
let first: InstallReport;
const TEXT = "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd";

before(async () => {
  mirror = await sourceMirror(join(work.path, "mirror"));
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, "kiln.toml"),
    `# a project that uses the catalogue\nrepositories = [${JSON.stringify(PACKAGES)}]\n`,
  );
});
after(async () => {
  await mirror?.close();
  work.cleanup();
});

describe("kiln pkg: an app recipe that depends on a library recipe", () => {
  it("pkg add writes the range into kiln.toml, keeping what was there", async () => {
    const { r, json } = await kilnJson<{ name: string; range: string; matching: string[] }>(home, [
      "pkg",
      "add",
      "kzcat@^1.0",
      "-C",
      project,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(json.matching, ["1.0.0"]);
    const text = readFileSync(join(project, "kiln.toml"), "utf8");
    assert.match(text, /^# a project that uses the catalogue$/m);
    assert.match(text, /^\[dependencies\]\nkzcat = "\^1\.0"$/m);
    const bad = await runKiln(["pkg", "add", "kzcat@^7", "-C", project], { home });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KILN_EPKG_NO_MATCH: No version of "kzcat" matches "\^7".*there are 1\.0\.0/);
    assert.equal(
      readFileSync(join(project, "kiln.toml"), "utf8"),
      text,
      "a refused add leaves kiln.toml as it was",
    );
  });

  it("pkg install resolves, builds both through the toolchain, locks and installs", async () => {
    const { r, json } = await kilnJson<InstallReport>(home, [
      "pkg",
      "install",
      project,
      "--mirror",
      `${mirror.url}/`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    first = json;
    assert.deepEqual(
      json.packages.map((p) => [p.name, p.version, p.how, p.installed]),
      [
        ["kz", "1.0.0", "built", true],
        ["kzcat", "1.0.0", "built", true],
      ],
    );
    assert.ok(mirror.log.includes("GET /kz-1.0.0.tar") && mirror.log.includes("GET /kzcat-1.0.0.tar"));
    const lock = readFileSync(join(project, "kiln.lock"), "utf8");
    for (const p of json.packages)
      assert.ok(lock.includes(`artifact = "${p.artifact}"`), `${p.name}'s artifact is locked`);
    assert.match(lock, /name = "kzcat"\nversion = "1\.0\.0"[\s\S]*dependencies = \["kz 1\.0\.0"\]/);
    const pc = readFileSync(join(json.prefix, "lib", "pkgconfig", "kz.pc"), "utf8");
    assert.match(pc, new RegExp(`^prefix=${json.prefix}$`, "m"), "the prefix is written back into kz.pc");
    const prog = json.packages[1]!.programs[0]!;
    assert.equal(prog, join(json.prefix, "bin", "kzcat"));
    const elf = await readElf(prog);
    assert.ok(elf.isStatic, "kzcat is static");
    assert.match(readKilnNote(elf)?.toolchain ?? "", /^kiln /, "kzcat was linked by the kiln toolchain");
  });

  it("bakes and boots: the app prints what only the library computes", async () => {
    const prog = first.packages[1]!.programs[0]!;
    const img = join(work.path, "img");
    const shared = sharedHome();
    const b = await runKiln(["bake", "qemu", img, prog, "--kernel", "stock", "--quiet"], { home: shared });
    assert.equal(b.code, 0, b.stderr);
    const l = await runKiln(["launch", "qemu", img], { home: shared, timeoutMs: 120_000 });
    assert.equal(l.code, 0, `${l.stdout}\n${l.stderr}`);
    assert.match(
      l.stdout,
      new RegExp(
        `^kzcat: kz 1\\.0\\.0 packed 64 bytes into 8, adler32 ${adler32(TEXT)}, round trip ok\\r?$`,
        "m",
      ),
    );
    assert.match(l.stdout, /^kiln: exit 0\r?$/m);
  });

  it("a second install touches nothing; --frozen holds to the lock", async () => {
    const lock = readFileSync(join(project, "kiln.lock"), "utf8");
    const { r, json } = await kilnJson<InstallReport>(home, ["pkg", "install", project, "--frozen"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json.upToDate, true);
    assert.equal(readFileSync(join(project, "kiln.lock"), "utf8"), lock);

    // A new range the lock does not cover: --frozen refuses and leaves kiln.lock alone.
    const toml = readFileSync(join(project, "kiln.toml"), "utf8");
    writeFileSync(join(project, "kiln.toml"), toml.replace('kzcat = "^1.0"', 'kzcat = "^1.0"\nkz = "1.x"'));
    const f = await runKiln(["pkg", "install", project, "--frozen"], { home });
    assert.equal(f.code, 2, f.stderr);
    assert.match(f.stderr, /KILN_ELOCK_FROZEN: --frozen: ".*kiln\.lock" would change/);
    assert.equal(readFileSync(join(project, "kiln.lock"), "utf8"), lock);

    // Without --frozen the lock follows (same packages, new ranges) and nothing is rebuilt.
    const { r: r2, json: j2 } = await kilnJson<InstallReport>(home, ["pkg", "install", project]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(
      j2.packages.map((p) => p.how),
      ["store", "store"],
    );
    const lock2 = readFileSync(join(project, "kiln.lock"), "utf8");
    assert.notEqual(lock2, lock);
    assert.equal(lock2.replace(/requires = .*/, ""), lock.replace(/requires = .*/, ""));
  });

  it("the lock is deterministic: resolving again from scratch writes the same bytes", async () => {
    const lock = readFileSync(join(project, "kiln.lock"), "utf8");
    const { rmSync } = await import("node:fs");
    rmSync(join(project, "kiln.lock"));
    const { r } = await kilnJson<InstallReport>(home, ["pkg", "install", project]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(project, "kiln.lock"), "utf8"), lock);
  });

  it("pkg build builds a recipe after its dependencies, from its own directory, reusing cached builds", async () => {
    const dir = join(work.path, "kzcat-recipe");
    cpSync(join(PACKAGES, "kzcat"), dir, { recursive: true });
    const { r, json } = await kilnJson<InstallReport>(home, [
      "pkg",
      "build",
      dir,
      "--repo",
      PACKAGES,
      "--mirror",
      mirror.url,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      json.packages.map((p) => [p.name, p.how]),
      [["kz", "cached-build"]],
    );
    assert.equal(json.self!.name, "kzcat");
    assert.equal(json.self!.artifact, first.packages[1]!.artifact, "the same inputs build the same artifact");
    assert.match(readFileSync(join(dir, "kiln.lock"), "utf8"), /name = "kz"/);
  });

  it("pkg:kzcat@^1 hands bake the installed program and the recipe's image defaults", async () => {
    const { resolvePkgProgram } = await import("../../src/pkg/pkgProgram.js");
    const r = await resolvePkgProgram("pkg:kzcat@^1", {
      env: { ...process.env, KILN_HOME: home },
      mirrors: [mirror.url],
    });
    assert.deepEqual(r.program, { src: first.packages[1]!.programs[0]!, dest: "/bin/kzcat" });
    assert.deepEqual(r.files, []);
    assert.equal(r.image?.memory, 64);
    // A new spec has no lock of its own yet, but nothing is built again: the builds are in the store.
    assert.deepEqual(
      r.install.packages.map((p) => p.how),
      ["cached-build", "cached-build"],
    );
  });

  it("store verify is clean after all this", async () => {
    const v = await runKiln(["store", "verify"], { home });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^ok: \d+ blobs/);
  });
});
