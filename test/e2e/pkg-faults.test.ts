// Bad input and faults, through the real `kiln`: each must end in a clear error (stable code, the bad value
// quoted), with nothing half-written (no kiln.lock, nothing new in the prefix, no scratch files left in the
// store) and a store that verifies clean afterwards.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pack } from "tar-stream";
import type { InstallReport } from "../../src/pkg/install.js";
import type { PublishResult } from "../../src/pkg/repository.js";
import { KILN, type RunResult, runKiln, tmpDir } from "../helpers.js";
import { faultyProxy, type Registry, startRegistry } from "./ociFixture.js";
import { type FileServer, kilnJson, PACKAGES, sourceMirror } from "./pkgFixture.js";

const work = tmpDir("kiln-pkg-faults-");
const mirrorDir = join(work.path, "mirror");
const publisher = join(work.path, "publisher");
let mirror: FileServer;
let registry: Registry;
let homes = 0;

before(async () => {
  mirror = await sourceMirror(mirrorDir);
  registry = await startRegistry(join(work.path, "registry"));
});
after(async () => {
  await mirror?.close();
  await registry?.stop();
  work.cleanup();
});

function project(deps: Record<string, string>, repos: string[], extra = ""): string {
  const dir = join(work.path, `project-${++homes}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "kiln.toml"),
    `repositories = ${JSON.stringify(repos)}\n${extra}[dependencies]\n${Object.entries(deps)
      .map(([n, r]) => `${n} = ${JSON.stringify(r)}`)
      .join("\n")}\n`,
  );
  return dir;
}

const freshHome = () => join(work.path, `home-${++homes}`);

/** Nothing half-written: no lock, no scratch files, nothing installed, a store that verifies clean. */
async function untouched(home: string, dir: string): Promise<void> {
  assert.ok(!existsSync(join(dir, "kiln.lock")), "no kiln.lock was written");
  const tmp = join(home, "store", "tmp");
  assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], [], "no scratch files left in the store");
  const installed = join(home, "pkg", "installed.json");
  if (existsSync(installed)) assert.deepEqual(JSON.parse(readFileSync(installed, "utf8")).packages, {});
  const prefix = join(home, "prefix");
  assert.deepEqual(existsSync(prefix) ? readdirSync(prefix) : [], [], "nothing in the prefix");
  const v = await runKiln(["store", "verify"], { home });
  assert.equal(v.code, 0, v.stdout);
}

function fails(r: RunResult, status: number, code: string, message: RegExp): void {
  assert.equal(r.code, status, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`kiln: error ${code}: `));
  assert.match(r.stderr, message);
  assert.match(r.stderr, /\n {2}hint: \S/);
}

/** A directory of recipe folders made here. */
function recipes(name: string, list: Record<string, string>): string {
  const dir = join(work.path, name);
  for (const [folder, toml] of Object.entries(list)) {
    mkdirSync(join(dir, folder), { recursive: true });
    writeFileSync(join(dir, folder, "kiln.toml"), toml);
  }
  return dir;
}

const scriptRecipe = (
  name: string,
  version: string,
  deps: Record<string, string> = {},
  script = 'mkdir -p "$DESTDIR$PREFIX/share"',
) =>
  `name = "${name}"\nversion = "${version}"\nlicense = "MIT"\n[build]\nsystem = "script"\nscript = [${JSON.stringify(script)}]\n[dependencies]\n${Object.entries(
    deps,
  )
    .map(([n, r]) => `${n} = "${r}"`)
    .join("\n")}\n`;

async function tarball(
  file: string,
  entries: { name: string; type?: "file" | "symlink"; linkname?: string; data?: string }[],
): Promise<string> {
  const p = pack();
  for (const e of entries) {
    if (e.type === "symlink") p.entry({ name: e.name, type: "symlink", linkname: e.linkname! });
    else p.entry({ name: e.name, mode: 0o644 }, e.data ?? "x");
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  const buf = Buffer.concat(chunks);
  writeFileSync(join(mirrorDir, file), buf);
  return createHash("sha256").update(buf).digest("hex");
}

describe("bad input", () => {
  it("a kiln.toml with an unknown key: file, line and key named; exit 2", async () => {
    const home = freshHome();
    const dir = project({ kzcat: "^1" }, [PACKAGES], "frobnicate = true\n");
    fails(
      await runKiln(["pkg", "install", dir], { home }),
      2,
      "KILN_ERECIPE_INVALID",
      /kiln\.toml" line 2: key "frobnicate": unknown key/,
    );
    await untouched(home, dir);
  });

  it("an unsatisfiable range, and a clash between packages, explained", async () => {
    const home = freshHome();
    const dir = project({ kzcat: "^3" }, [PACKAGES]);
    fails(
      await runKiln(["pkg", "install", dir], { home }),
      2,
      "KILN_ERESOLVE",
      /kiln\.toml needs kzcat \^3, but the versions of kzcat are 1\.0\.0/,
    );
    await untouched(home, dir);
    const repo = recipes("clash", {
      app: scriptRecipe("app", "1.2.0", { libfoo: "^2", libbar: "^0.3" }),
      libbar: scriptRecipe("libbar", "0.3.0", { libfoo: "^1" }),
      "libfoo-1": scriptRecipe("libfoo", "1.4.0"),
      "libfoo-2": scriptRecipe("libfoo", "2.1.0"),
    });
    const dir2 = project({ app: "^1" }, [repo]);
    fails(
      await runKiln(["pkg", "install", dir2], { home }),
      2,
      "KILN_ERESOLVE",
      /app 1\.2\.0 needs libfoo \^2, but libbar 0\.3\.0 needs libfoo \^1|libbar 0\.3\.0 needs libfoo \^1, but app 1\.2\.0 needs libfoo \^2/,
    );
    await untouched(home, dir2);
  });

  it("a wrong sha256: the download is refused and nothing is stored", async () => {
    const home = freshHome();
    const repo = join(work.path, "wrong-sha");
    cpSync(join(PACKAGES, "kz"), join(repo, "kz"), { recursive: true });
    const toml = join(repo, "kz", "kiln.toml");
    const bad = "0".repeat(64);
    writeFileSync(toml, readFileSync(toml, "utf8").replace(/sha256 = "[0-9a-f]+"/, `sha256 = "${bad}"`));
    const dir = project({ kz: "^1" }, [repo]);
    const r = await runKiln(["pkg", "install", dir, "--mirror", mirror.url], { home });
    fails(
      r,
      1,
      "KILN_EDIGEST",
      new RegExp(
        `Digest mismatch for ".*/kz-1\\.0\\.0\\.tar": the recipe says sha256 ${bad}, the download is [0-9a-f]{64}`,
      ),
    );
    const blobs = join(home, "store", "blobs", "sha256");
    const real = readFileSync(join(PACKAGES, "kz", "kiln.toml"), "utf8").match(/sha256 = "([0-9a-f]+)"/)![1]!;
    assert.ok(!existsSync(join(blobs, real)), "the mismatching download was not kept");
    await untouched(home, dir);
  });

  it("tarballs with ../, an absolute path or a symlink escaping the tree are refused", async () => {
    const marker = `kiln-escape-${process.pid}`;
    const cases = {
      dotdot: await tarball("dotdot-1.0.0.tar", [
        { name: "dotdot-1.0.0/ok", data: "ok" },
        { name: `dotdot-1.0.0/../../../${marker}`, data: "escaped" },
      ]),
      absolute: await tarball("absolute-1.0.0.tar", [{ name: `/tmp/${marker}`, data: "escaped" }]),
      symlink: await tarball("symlink-1.0.0.tar", [
        { name: "symlink-1.0.0/link", type: "symlink", linkname: "../../../../../../../tmp" },
        { name: `symlink-1.0.0/link/${marker}`, data: "escaped" },
      ]),
    };
    const list: Record<string, string> = {};
    for (const [n, sha] of Object.entries(cases)) {
      list[n] =
        `name = "${n}"\nversion = "1.0.0"\nlicense = "MIT"\n[[sources]]\nurl = "https://sources.kiln.invalid/${n}-1.0.0.tar"\nsha256 = "${sha}"\n[build]\nsystem = "script"\nscript = ["true"]\n`;
    }
    // And a build whose install step leaves a symlink pointing out of the prefix.
    list.outlink = scriptRecipe(
      "outlink",
      "1.0.0",
      {},
      'mkdir -p "$DESTDIR$PREFIX/share" && ln -s /etc "$DESTDIR$PREFIX/share/etc"',
    );
    const repo = recipes("evil", list);
    for (const [n, msg] of [
      ["dotdot", /climbs out of the root with "\.\."/],
      ["absolute", /has an absolute path/],
      ["symlink", /symlink .* points outside the archive root/],
      ["outlink", /symlink "share\/etc" to "\/etc", outside the prefix/],
    ] as const) {
      const home = freshHome();
      const dir = project({ [n]: "1" }, [repo]);
      const r = await runKiln(["pkg", "install", dir, "--mirror", mirror.url], { home });
      fails(r, 1, n === "outlink" ? "KILN_EBUILD_OUTPUT" : "KILN_EARCHIVE_UNSAFE", msg);
      assert.ok(
        !existsSync(`/tmp/${marker}`) && !existsSync(join(work.path, marker)),
        `${n}: nothing escaped`,
      );
      await untouched(home, dir);
    }
  });
});

describe("faults", () => {
  let published: Map<string, PublishResult>;
  const dirRepo = join(work.path, "published");

  before(async () => {
    published = new Map();
    for (const target of [dirRepo, `oci://${registry.host}/kiln`]) {
      const src = join(work.path, "kz-copy");
      cpSync(join(PACKAGES, "kz"), src, { recursive: true });
      const { r, json } = await kilnJson<PublishResult>(publisher, [
        "pkg",
        "publish",
        target,
        src,
        "--mirror",
        mirror.url,
      ]);
      assert.equal(r.code, 0, r.stderr);
      published.set(target.startsWith("oci") ? "oci" : "dir", json);
    }
  });

  it("a tampered blob in a repository is refused; a tampered blob in the store is found by verify", async () => {
    const art = published.get("dir")!.artifact!;
    const blob = join(dirRepo, "blobs", "sha256", art);
    const good = readFileSync(blob);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0xff;
    writeFileSync(blob, bad);
    const home = freshHome();
    const dir = project({ kz: "^1" }, [dirRepo]);
    fails(
      await runKiln(["pkg", "install", dir], { home }),
      1,
      "KILN_EDIGEST",
      new RegExp(`expected sha256 ${art}, got [0-9a-f]{64}`),
    );
    await untouched(home, dir);
    writeFileSync(blob, good);

    // Now a good install, then damage the store's copy.
    const ok = await kilnJson<InstallReport>(home, ["pkg", "install", dir]);
    assert.equal(ok.r.code, 0, ok.r.stderr);
    const stored = join(home, "store", "blobs", "sha256", art);
    const { chmodSync, rmSync } = await import("node:fs");
    chmodSync(stored, 0o644);
    writeFileSync(stored, bad);
    const v = await runKiln(["store", "verify"], { home });
    assert.equal(v.code, 1);
    assert.match(v.stdout, new RegExp(`digest mismatch: blobs/sha256/${art}`));
    // Installing it again (its files gone from the prefix) reads the blob and refuses it.
    rmSync(join(home, "prefix"), { recursive: true });
    fails(
      await runKiln(["pkg", "install", dir], { home }),
      1,
      "KILN_ESTORE_CORRUPT",
      new RegExp(`blob ${art} has changed`),
    );
    // Removing the damaged blob heals it: fetched again from the repository, checked.
    rmSync(stored);
    const again = await kilnJson<InstallReport>(home, ["pkg", "install", dir]);
    assert.equal(again.r.code, 0, again.r.stderr);
    assert.equal((await runKiln(["store", "verify"], { home })).code, 0);
  });

  it("a registry that drops the connection mid-blob: KILN_EREGISTRY_IO, nothing kept; then it works", async () => {
    const art = published.get("oci")!.artifact!;
    const proxy = await faultyProxy(registry.host, `sha256:${art}`, "cut", 1000);
    try {
      const home = freshHome();
      const dir = project({ kz: "^1" }, [`oci://${proxy.host}/kiln`]);
      fails(await runKiln(["pkg", "install", dir], { home }), 1, "KILN_EREGISTRY_IO", /broke during blob/);
      assert.ok(proxy.hits >= 1, "the blob went through the proxy");
      assert.ok(!existsSync(join(home, "store", "blobs", "sha256", art)));
      await untouched(home, dir);
      writeFileSync(
        join(dir, "kiln.toml"),
        readFileSync(join(dir, "kiln.toml"), "utf8").replace(proxy.host, registry.host),
      );
      const ok = await kilnJson<InstallReport>(home, ["pkg", "install", dir]);
      assert.equal(ok.r.code, 0, ok.r.stderr);
      assert.equal(ok.json.packages[0]!.artifact, art);
    } finally {
      await proxy.close();
    }
  });

  it("two kiln pkg install at once on one store: both succeed, each package is built once", async () => {
    const home = freshHome();
    const a = project({ kzcat: "^1" }, [PACKAGES]);
    const b = project({ kzcat: "^1.0.0" }, [PACKAGES]);
    const go = (dir: string) =>
      new Promise<{ code: number; out: string; err: string }>((res) => {
        const c = spawn(process.execPath, [KILN, "pkg", "install", dir, "--mirror", mirror.url, "--json"], {
          env: { ...process.env, KILN_HOME: home },
        });
        let out = "";
        let err = "";
        c.stdout.on("data", (x) => (out += x));
        c.stderr.on("data", (x) => (err += x));
        c.on("close", (code) => res({ code: code ?? 1, out, err }));
      });
    const [ra, rb] = await Promise.all([go(a), go(b)]);
    assert.equal(ra.code, 0, ra.err);
    assert.equal(rb.code, 0, rb.err);
    const ja = JSON.parse(ra.out) as InstallReport;
    const jb = JSON.parse(rb.out) as InstallReport;
    for (const name of ["kz", "kzcat"]) {
      const hows = [ja, jb].map((j) => j.packages.find((p) => p.name === name)!.how);
      assert.equal(hows.filter((h) => h === "built").length, 1, `${name} built once (${hows.join(", ")})`);
      assert.equal(
        ja.packages.find((p) => p.name === name)!.artifact,
        jb.packages.find((p) => p.name === name)!.artifact,
      );
    }
    const v = await runKiln(["store", "verify"], { home });
    assert.equal(v.code, 0, v.stdout);
    assert.deepEqual(readdirSync(join(home, "store", "tmp")), []);
  });

  it("gc keeps what projects use and removes what nothing uses", async () => {
    const home = freshHome();
    const dir = project({ kz: "^1" }, [dirRepo]);
    const ok = await kilnJson<InstallReport>(home, ["pkg", "install", dir]);
    assert.equal(ok.r.code, 0, ok.r.stderr);
    const art = ok.json.packages[0]!.artifact!;
    const orphan = join(home, "store", "blobs", "sha256", "f".repeat(64));
    writeFileSync(orphan, "nobody uses this");
    const g = await kilnJson<{ removedBlobs: string[] }>(home, ["gc", "--grace", "0"]);
    assert.equal(g.r.code, 0, g.r.stderr);
    assert.ok(g.json.removedBlobs.includes("f".repeat(64)));
    assert.ok(existsSync(join(home, "store", "blobs", "sha256", art)), "the installed artifact stays");
    // The project goes away (its lock with it) and the package is uninstalled: its blobs go too.
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "kiln.lock"));
    rmSync(join(home, "pkg", "installed.json"));
    const g2 = await kilnJson<{ removedBlobs: string[]; droppedRoots: string[] }>(home, [
      "gc",
      "--grace",
      "0",
    ]);
    assert.ok(g2.json.removedBlobs.includes(art));
    assert.deepEqual(g2.json.droppedRoots, [dir]);
    assert.equal((await runKiln(["store", "verify"], { home })).code, 0);
  });
});
