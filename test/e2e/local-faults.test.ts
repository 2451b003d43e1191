// Faults of the local machine (a file too large to read, one kiln may not read, a full disk) are reported as
// what they are, naming the path, with a KILN_E code: never a stack trace, never "no such file", never the
// registry's fault. And a refused archive entry says why.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { crc32, deflateRawSync } from "node:zlib";
import { KILN, type RunResult, run, runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";
import { helloImage, type Registry, startRegistry } from "./ociFixture.js";

const work = tmpDir("kiln-local-faults-");
chmodSync(work.path, 0o755);
after(() => work.cleanup());

const isRoot = process.getuid?.() === 0;

/** A file system of `kb` KiB (a tmpfs, so only root can make one here), unmounted when the tests end. */
function smallDisk(name: string, kb: number): string {
  const dir = join(work.path, name);
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${kb}k`, "tmpfs", dir]);
  after(() => execFileSync("umount", ["-l", dir]));
  return dir;
}

/** kiln run as the unprivileged user `nobody`: root reads every file, so EACCES needs another user. */
function kilnAsNobody(args: string[]): Promise<RunResult> {
  const home = join(work.path, "nobody-home");
  mkdirSync(home, { recursive: true, mode: 0o777 });
  chmodSync(home, 0o777);
  return run(
    "setpriv",
    ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, KILN, ...args],
    { env: { ...process.env, KILN_HOME: home, HOME: home } },
  );
}

function assertKilnError(r: RunResult, exit: number, code: string, message: RegExp): void {
  assert.equal(r.code, exit, r.stderr);
  assert.match(r.stderr, new RegExp(`^kiln: error ${code}: `, "m"), r.stderr);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /hint: \S/);
  assert.doesNotMatch(r.stderr, /KILN_EINTERNAL|\n\s+at /, "no internal error, no stack trace");
}

describe("files kiln cannot read", () => {
  const huge = join(work.path, "huge.bin");
  const locked = join(work.path, "locked");
  before(() => {
    // 20 GiB, sparse: nothing is written, but no single read can take it.
    execFileSync("truncate", ["-s", "20G", huge]);
    writeFileSync(locked, Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    chmodSync(locked, 0o000);
  });

  it("inspect of a 20 GiB file: KILN_EFILE_TOO_LARGE naming it", async () => {
    assertKilnError(await runKiln(["inspect", huge]), 2, "KILN_EFILE_TOO_LARGE", /"[^"]*huge\.bin"/);
  });

  it("bake of a 20 GiB file is not 'no such file'", async () => {
    const r = await runKiln(["bake", "qemu", join(work.path, "out-huge"), huge]);
    assertKilnError(r, 2, "KILN_EFILE_TOO_LARGE", /program "[^"]*huge\.bin"/);
    assert.doesNotMatch(r.stderr, /no such file/);
  });

  it("inspect and bake of a file this user may not read: KILN_EACCES naming it", {
    skip: !isRoot,
  }, async () => {
    assertKilnError(
      await kilnAsNobody(["inspect", locked]),
      1,
      "KILN_EACCES",
      /"[^"]*locked": permission denied/,
    );
    const r = await kilnAsNobody(["bake", "qemu", join(work.path, "out-locked"), locked]);
    assertKilnError(r, 1, "KILN_EACCES", /program "[^"]*locked": permission denied/);
    assert.doesNotMatch(r.stderr, /no such file/);
  });
});

describe("a full disk", { skip: !isRoot && "needs root to mount a small file system" }, () => {
  let registry: Registry | undefined;
  after(async () => registry?.stop());

  it("bake onto a full disk: KILN_ENOSPC naming the image path; nothing left there", async () => {
    const disk = smallDisk("bake-disk", 2048);
    const r = await runKiln(
      ["bake", "qemu", join(disk, "out"), await helloProgram(), "--kernel", "stock", "-q"],
      {
        home: sharedHome(),
      },
    );
    assertKilnError(r, 1, "KILN_ENOSPC", new RegExp(`"${disk}/out/[a-z]+": no space left`));
    assert.deepEqual(readdirSync(disk), []);
  });

  it("pull onto a full disk blames the disk, not the registry", async () => {
    registry = await startRegistry(join(work.path, "registry"));
    const ref = `${registry.host}/hello:1`;
    const push = await runKiln(["push", await helloImage(), ref, "-q"]);
    assert.equal(push.code, 0, push.stderr);
    const disk = smallDisk("pull-disk", 2048);
    const r = await runKiln(["pull", ref, join(disk, "out"), "-q"]);
    assertKilnError(r, 1, "KILN_ENOSPC", new RegExp(`"${disk}/out/kernel": no space left`));
    assert.doesNotMatch(r.stderr, /KILN_EREGISTRY|connection|broke/i);
    assert.deepEqual(readdirSync(disk), []);
  });
});

describe("refused archive entries", () => {
  /** A zip of deflated entries; an entry's directory record may state a size (`claimed`) it does not have. */
  function zip(path: string, entries: { name: string; content: Buffer; claimed?: number }[]): void {
    const parts: Buffer[] = [];
    const centrals: Buffer[] = [];
    let at = 0;
    for (const e of entries) {
      const name = Buffer.from(e.name);
      const data = deflateRawSync(e.content);
      const size = e.claimed ?? e.content.length;
      const local = Buffer.alloc(30);
      local.writeUInt32LE(0x04034b50, 0);
      local.writeUInt16LE(20, 4);
      local.writeUInt16LE(8, 8);
      local.writeUInt32LE(crc32(e.content), 14);
      local.writeUInt32LE(data.length, 18);
      local.writeUInt32LE(size, 22);
      local.writeUInt16LE(name.length, 26);
      const central = Buffer.alloc(46);
      central.writeUInt32LE(0x02014b50, 0);
      central.writeUInt16LE(20, 6);
      central.writeUInt16LE(8, 10);
      central.writeUInt32LE(crc32(e.content), 16);
      central.writeUInt32LE(data.length, 20);
      central.writeUInt32LE(size, 24);
      central.writeUInt16LE(name.length, 28);
      central.writeUInt32LE(at, 42);
      parts.push(local, name, data);
      centrals.push(central, name);
      at += local.length + name.length + data.length;
    }
    const cd = Buffer.concat(centrals);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(entries.length, 8);
    eocd.writeUInt16LE(entries.length, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(at, 16);
    writeFileSync(path, Buffer.concat([...parts, cd, eocd]));
  }

  const advisory = Buffer.from(
    JSON.stringify({
      id: "KILN-TEST-1",
      modified: "2024-01-01T00:00:00Z",
      affected: [
        {
          package: { ecosystem: "Debian", name: "zlib" },
          ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1.0" }] }],
        },
      ],
    }),
  );

  it("advisories import of zip bombs says, for each entry, why it was skipped (even with -q)", async () => {
    const home = join(work.path, "advisories-home");
    const honest = join(work.path, "honest.zip");
    const liar = join(work.path, "liar.zip");
    zip(honest, [
      { name: "ok.json", content: advisory },
      { name: "bomb.json", content: Buffer.alloc(80 * 1024 * 1024) },
    ]);
    zip(liar, [
      { name: "ok.json", content: advisory },
      { name: "bomb.json", content: Buffer.alloc(8 * 1024 * 1024), claimed: 1000 },
    ]);
    const a = await runKiln(["advisories", "import", honest, "-q"], { home });
    assert.equal(a.code, 0, a.stderr);
    assert.match(
      a.stdout,
      /skipped 1 file\(s\):\n {2}bomb\.json: would inflate to 83886080 bytes .* zip bomb/,
    );
    const b = await runKiln(["advisories", "import", liar, "-q"], { home });
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /bomb\.json: inflates to more than the 1000 bytes .* zip bomb/);
    const j = JSON.parse((await runKiln(["advisories", "import", liar, "--json"], { home })).stdout);
    assert.deepEqual(
      j.skippedFiles.map((s: { file: string; reason: string }) => [s.file, /zip bomb/.test(s.reason)]),
      [["bomb.json", true]],
    );
  });
});
