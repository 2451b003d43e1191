import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sha256 } from "../core/digest.js";
import { parseElf } from "../core/elf.js";
import { isKilnError } from "../core/errors.js";
import { ensureKilnInit, guestDir, type KilnInitBuild } from "./kilnInit.js";

// Until the lead's toolchain is the default here, Debian's musl-gcc (musl-tools) builds kiln-init.
const CC = process.env.KILN_TEST_MUSL_CC ?? "musl-gcc";

describe("ensureKilnInit", () => {
  let tmp: string;
  let a: KilnInitBuild;
  let b: KilnInitBuild;
  let srcA: string;
  let srcB: string;

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "kiln-init-test-"));
    // Two copies of the sources in differently named, differently deep places, built into two caches.
    srcA = join(tmp, "a", "guest");
    srcB = join(tmp, "bb", "deeper", "elsewhere");
    for (const dir of [srcA, srcB]) {
      await mkdir(dir, { recursive: true });
      for (const n of await readdir(guestDir())) {
        if (n.endsWith(".c") || n.endsWith(".h")) await cp(join(guestDir(), n), join(dir, n));
      }
    }
    [a, b] = await Promise.all([
      ensureKilnInit({ cc: CC, cacheDir: join(tmp, "cache-a"), sourceDir: srcA }),
      ensureKilnInit({ cc: CC, cacheDir: join(tmp, "cache-b", "x"), sourceDir: srcB }),
    ]);
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("builds a static x86-64 program and reports its digest and size", async () => {
    const bin = await readFile(a.path);
    const elf = parseElf(bin, "kiln-init");
    assert.equal(elf.isStatic, true);
    assert.equal(elf.interp, undefined);
    assert.equal(elf.machine, "x86_64");
    assert.equal(a.sha256, sha256(bin));
    assert.equal(a.size, bin.length);
    assert.ok(a.size < 200_000, `kiln-init is ${a.size} bytes`);
    assert.match(a.version, /^\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
    assert.ok(bin.includes(a.version), "the version is compiled in (kiln.debug=1 prints it)");
  });

  it("is deterministic: the same bytes from sources in other directories and another cache", async () => {
    assert.equal(b.sha256, a.sha256);
    assert.equal(b.version, a.version);
    assert.notEqual(b.path, a.path);
  });

  it("leaves no host path in the binary", async () => {
    const bin = await readFile(a.path);
    // The guest's own /tmp (kiln-init makes it) is not a host path; anything under the host's tmpdir is.
    for (const p of [
      tmp,
      srcA,
      srcB,
      guestDir().replace(/\/$/, ""),
      "/work",
      `${tmpdir()}/`,
      "kiln-init-test-",
    ]) {
      assert.equal(bin.includes(p), false, `found ${p}`);
    }
  });

  it("takes the cached binary when nothing changed, and rebuilds when a source changes", async () => {
    const before = await stat(a.path);
    const again = await ensureKilnInit({ cc: CC, cacheDir: join(tmp, "cache-a"), sourceDir: srcA });
    assert.deepEqual(again, a);
    assert.equal((await stat(a.path)).mtimeMs, before.mtimeMs);

    const src = await readFile(join(srcA, "init.c"), "utf8");
    await cp(join(srcA, "init.c"), join(tmp, "init.c.orig"));
    await writeFile(join(srcA, "init.c"), src.replace("must run as PID 1", "must run as process 1"));
    const changed = await ensureKilnInit({ cc: CC, cacheDir: join(tmp, "cache-a"), sourceDir: srcA });
    assert.notEqual(changed.path, a.path);
    assert.notEqual(changed.sha256, a.sha256);
    assert.notEqual(changed.version, a.version);
    assert.ok((await readFile(changed.path)).includes("must run as process 1"));
    await cp(join(tmp, "init.c.orig"), join(srcA, "init.c"));
    // The cache holds finished binaries only: no temporary files are left behind.
    const names = await readdir(join(tmp, "cache-a"));
    assert.deepEqual(
      names.filter((n) => n.startsWith(".")),
      [],
    );
  });

  it("refuses to run on a host as an ordinary process", async () => {
    const r = spawnSync(a.path, [], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /must run as PID 1 in a kiln image/);
  });

  it("names a missing compiler", async () => {
    await assert.rejects(
      ensureKilnInit({ cc: "no-such-cc-kiln", cacheDir: join(tmp, "cache-c") }),
      (e: unknown) =>
        isKilnError(e) && e.code === "KILN_ETOOL_MISSING" && e.message.includes('"no-such-cc-kiln"'),
    );
  });

  it("reports a compiler that cannot build it, with the compiler's own words", async () => {
    // cpp is a real tool that takes the same flags but cannot compile several files into a program.
    await assert.rejects(
      ensureKilnInit({ cc: "cpp", cacheDir: join(tmp, "cache-d") }),
      (e: unknown) => isKilnError(e) && e.code === "KILN_EKILN_INIT_BUILD" && /"cpp"/.test(e.message),
    );
    assert.deepEqual(await readdir(join(tmp, "cache-d")), []);
  });

  it("names missing sources", async () => {
    await assert.rejects(
      ensureKilnInit({ cc: CC, cacheDir: join(tmp, "cache-e"), sourceDir: join(tmp, "nowhere") }),
      (e: unknown) => isKilnError(e) && e.code === "KILN_EKILN_INIT_SOURCES",
    );
  });
});
