// Debian packages as a source: real apt, real .debs from Debian's archive, the catalogue's recipes. The
// closure is checked three ways: every DT_NEEDED of every ELF object in it is met inside it (a loader-like
// search over the files alone), it names the same libraries as the host's `ldd` when the host has the same
// package version, and (as root) the program runs in a chroot holding nothing but the closure.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { after, before, test } from "node:test";
import { readElf } from "../../src/core/elf.js";
import { KilnError } from "../../src/core/errors.js";
import { type DebProgram, parseDebSpec, resolveDebProgram } from "../../src/pkg/debProgram.js";
import { DEFAULT_LIB_DIRS } from "../../src/pkg/elfClosure.js";
import { sharedHome, tmpDir } from "../helpers.js";

const env = { ...process.env, KILN_HOME: sharedHome() };
const work = tmpDir("kiln-pkg-deb-");
after(() => work.cleanup());

const CASES: { name: string; run?: { args?: string[]; expect: RegExp } }[] = [
  { name: "redis-server", run: { args: ["--version"], expect: /^Redis server v=7\./ } },
  { name: "sqlite3", run: { expect: /^sqlite 3\.\d+\.\d+ says 42$/m } },
  { name: "lua5.4", run: { expect: /^Lua 5\.4 says 42$/m } },
  {
    name: "nginx-light",
    run: { args: ["-t", "-c", "/etc/kiln/nginx.conf", "-e", "stderr"], expect: /test is successful/ },
  },
];
const results = new Map<string, DebProgram>();

before(async () => {
  for (const c of CASES) results.set(c.name, await resolveDebProgram(`deb:${c.name}`, { env }));
});

/** Copy the program and its files into `root` as bake would lay them out in the image. */
function materialize(r: DebProgram, root: string): void {
  const put = (dest: string) => {
    const p = join(root, dest);
    mkdirSync(dirname(p), { recursive: true });
    return p;
  };
  copyFileSync(r.program.src, put(r.program.dest));
  chmodSync(join(root, r.program.dest), 0o755);
  for (const f of r.files) {
    const p = put(f.dest);
    if (f.symlink !== undefined) execFileSync("ln", ["-s", f.symlink, p]);
    else {
      copyFileSync(f.src, p);
      chmodSync(p, f.mode ?? 0o644);
    }
  }
  mkdirSync(join(root, "tmp"), { recursive: true });
}

for (const c of CASES) {
  test(`deb:${c.name}: every DT_NEEDED in the closure is met by the closure itself`, async () => {
    const r = results.get(c.name)!;
    const root = join(work.path, c.name);
    materialize(r, root);
    const elfFiles = [r.program.dest, ...r.files.filter((f) => f.symlink === undefined).map((f) => f.dest)];
    let checked = 0;
    for (const dest of elfFiles) {
      const buf = readFileSync(join(root, dest));
      if (buf.subarray(0, 4).toString("latin1") !== "\x7fELF") continue;
      const elf = await readElf(buf, dest);
      if (elf.interp)
        assert.ok(existsSync(join(root, elf.interp)), `${dest}: interpreter ${elf.interp} is in the closure`);
      for (const n of elf.needed) {
        const dirs = [...elf.runpath, ...elf.rpath].map((d) => d.replace("$ORIGIN", posix.dirname(dest)));
        const found = [...dirs, ...DEFAULT_LIB_DIRS].some((d) => existsSync(join(root, d, n)));
        assert.ok(found, `${dest} needs ${n}, which is not in the closure`);
        checked++;
      }
    }
    assert.ok(checked >= 3, `checked ${checked} DT_NEEDED entries`);
    // Nothing is there that nothing needs: every library file is needed by some object.
    assert.ok(r.files.length < 80, `${r.files.length} files`);
  });

  test(`deb:${c.name}: packages carry versions, source packages and copyright files`, () => {
    const r = results.get(c.name)!;
    assert.equal(r.packages[0]!.name, c.name);
    for (const p of r.packages) {
      assert.match(p.sha256, /^[0-9a-f]{64}$/);
      assert.ok(p.version && p.source && p.sourceVersion, JSON.stringify(p));
      if (p.name !== "nginx-light") {
        assert.ok(p.copyrightFile, `${p.name} has a copyright file`);
        assert.match(readFileSync(p.copyrightFile!, "utf8"), /Copyright|License/i);
      }
    }
    const policy = execFileSync("apt-cache", ["policy", c.name], { encoding: "utf8" });
    assert.equal(r.packages[0]!.version, /Candidate:\s*(\S+)/.exec(policy)![1]);
  });

  if (process.getuid?.() === 0 && c.run) {
    test(`deb:${c.name}: runs in a chroot holding only the closure`, () => {
      const r = results.get(c.name)!;
      const root = join(work.path, `${c.name}-run`);
      materialize(r, root);
      const args = c.run!.args ?? r.image?.args ?? [];
      const out = spawnSync("chroot", [root, r.program.dest, ...args], { encoding: "utf8", timeout: 20_000 });
      assert.match(`${out.stdout}${out.stderr}`, c.run!.expect, `status ${out.status}: ${out.stderr}`);
    });
  }
}

test("the closure names the libraries the host's ldd names, when the host has the same version", (t) => {
  let compared = 0;
  for (const [name, hostPkg, prog] of [
    ["redis-server", "redis-tools", "/usr/bin/redis-check-rdb"],
    ["sqlite3", "sqlite3", "/usr/bin/sqlite3"],
    ["lua5.4", "lua5.4", "/usr/bin/lua5.4"],
  ] as const) {
    const r = results.get(name)!;
    const mine = r.packages.find((p) => p.name === hostPkg);
    const host = spawnSync("dpkg-query", ["-W", "-f=$" + "{Version}", hostPkg], { encoding: "utf8" }).stdout;
    if (!mine || host !== mine.version) continue;
    const ldd = execFileSync("ldd", [prog], { encoding: "utf8" });
    const want = [...ldd.matchAll(/^\s+(\S+) => /gm)].map((m) => m[1]!).sort();
    const got = [
      ...new Set(r.files.map((f) => posix.basename(f.dest)).filter((b) => want.includes(b))),
    ].sort();
    assert.deepEqual(got, want, `${name}: closure vs ldd`);
    compared++;
  }
  if (compared === 0) t.skip("no catalogue program is installed on the host in the same version");
});

test("a second resolution asks apt nothing and gives the same answer", async () => {
  // With no apt-cache or apt-get on PATH, any call to apt would fail (KILN_ETOOL_MISSING).
  const empty = join(work.path, "empty-path");
  mkdirSync(empty, { recursive: true });
  const again = await resolveDebProgram("deb:redis-server", { env: { ...env, PATH: empty } });
  assert.deepEqual(again, results.get("redis-server"));
  await assert.rejects(
    resolveDebProgram("deb:redis-server", { env: { ...env, PATH: empty }, exclude: ["liblzf1"] }),
    {
      code: "KILN_ETOOL_MISSING",
    },
  );
});

test("a missing library is an error listing every missing name", async () => {
  const dir = join(work.path, "broken");
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "kiln.toml"),
    'name = "broken-redis"\nversion = "1.0.0"\nlicense = "BSD-3-Clause"\n[deb]\npackage = "redis-server"\nexclude = ["libjemalloc2", "liblzf1"]\n',
  );
  await assert.rejects(resolveDebProgram("deb:redis-server", { env, recipe: dir }), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, "KILN_EDEB_LIBRARY_MISSING");
    assert.match(e.message, /Cannot find 2 shared libraries for "\/usr\/bin\/redis-server"/);
    assert.match(e.message, /libjemalloc\.so\.2 \(needed by \/usr\/bin\/redis-check-rdb\)/);
    assert.match(e.message, /liblzf\.so\.1 \(needed by/);
    return true;
  });
});

test("bad specs, unknown packages and missing programs are clear errors", async () => {
  assert.throws(() => parseDebSpec("deb:"), { code: "KILN_EDEB_SPEC" });
  assert.throws(() => parseDebSpec("redis"), { code: "KILN_EDEB_SPEC" });
  assert.deepEqual(parseDebSpec("deb:sqlite3=3.40.1-2"), { name: "sqlite3", version: "3.40.1-2" });
  // A program path after ":/"; an epoch's ':' stays in the version.
  assert.deepEqual(parseDebSpec("deb:postgresql-15:/usr/lib/postgresql/15/bin/postgres"), {
    name: "postgresql-15",
    program: "/usr/lib/postgresql/15/bin/postgres",
  });
  assert.deepEqual(parseDebSpec("deb:redis-server=5:7.0.15-1~deb12u1:/usr/bin/redis-server"), {
    name: "redis-server",
    version: "5:7.0.15-1~deb12u1",
    program: "/usr/bin/redis-server",
  });
  assert.deepEqual(parseDebSpec("deb:redis-server=5:7.0.15-1"), {
    name: "redis-server",
    version: "5:7.0.15-1",
  });
  assert.throws(() => parseDebSpec("deb:coreutils:/usr/bin/../../etc/shadow"), { code: "KILN_EDEB_SPEC" });
  assert.throws(() => parseDebSpec("deb:coreutils:usr/bin/ls"), { code: "KILN_EDEB_SPEC" });
  await assert.rejects(resolveDebProgram("deb:kiln-no-such-package", { env }), {
    code: "KILN_EDEB_NOT_FOUND",
  });
  await assert.rejects(resolveDebProgram("deb:libc6", { env, catalogue: false }), (e: unknown) => {
    assert.ok(e instanceof KilnError && e.code === "KILN_EDEB_PROGRAM", String(e));
    assert.match(e.message, /has no program "\/usr\/bin\/libc6"/);
    return true;
  });
  // The way out the error names works: a program path for a package whose binary is not named after it,
  // under the name a merged /usr gives it (coreutils ships /bin/ls, which goes into the image as shipped).
  const ls = await resolveDebProgram("deb:coreutils:/usr/bin/ls", { env, catalogue: false });
  assert.equal(ls.program.dest, "/bin/ls");
  const viaOption = await resolveDebProgram("deb:coreutils", {
    env,
    catalogue: false,
    program: "/usr/bin/ls",
  });
  assert.equal(viaOption.program.dest, "/bin/ls");
  await assert.rejects(
    resolveDebProgram("deb:coreutils:/usr/bin/ls", { env, catalogue: false, program: "/usr/bin/cat" }),
    { code: "KILN_EDEB_SPEC" },
  );
  await assert.rejects(resolveDebProgram("deb:libc6", { env, catalogue: false }), (e: unknown) => {
    assert.ok(e instanceof KilnError);
    assert.match(e.hint ?? "", /deb:libc6:\/usr\/sbin\/NAME, or --program/);
    return true;
  });
});

test("a virtual package only a default-excluded package provides is resolved as apt would (perlapi by perl-base)", async () => {
  const { aptClosure } = await import("../../src/pkg/debApt.js");
  // libtext-charwidth-perl depends on perlapi-5.36.0, which only perl-base (left out by default) provides.
  const r = await aptClosure({ name: "libtext-charwidth-perl" }, { env });
  const names = r.packages.map((p) => p.name);
  assert.ok(names.includes("perl-base"), names.join(" "));
  assert.ok(!r.skipped.includes("perl-base"), r.skipped.join(" "));
  // A recipe that excludes perl-base itself keeps it out, and the dependency cannot be met.
  await assert.rejects(aptClosure({ name: "libtext-charwidth-perl" }, { env, exclude: ["perl-base"] }), {
    code: "KILN_EDEB_DEPENDS",
  });
  // deb:perl-base:/usr/bin/perl runs Perl itself, which deb:perl cannot name (its binary is perl-base's).
  const perl = await resolveDebProgram("deb:perl-base:/usr/bin/perl", { env, catalogue: false });
  assert.equal(perl.program.dest, "/usr/bin/perl");
});
