// Publish to and install from each repository kind: a directory, the same directory served over HTTP on
// loopback, and Debian's docker-registry started here on loopback. Each install runs in a fresh KILN_HOME
// with only that repository, takes the prebuilt artifacts (no toolchain needed), and must lock exactly the
// digests that were pushed; what the registry stores hashes to those digests too.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { InstallReport } from "../../src/pkg/install.js";
import type { PublishResult } from "../../src/pkg/repository.js";
import { run, runKiln, tmpDir } from "../helpers.js";
import { type Registry, startRegistry } from "./ociFixture.js";
import { adler32, type FileServer, kilnJson, PACKAGES, serveDir, sourceMirror } from "./pkgFixture.js";

const work = tmpDir("kiln-pkg-repos-");
const publisher = join(work.path, "publisher-home");
const dirRepo = join(work.path, "repo");
let mirror: FileServer;
let http: FileServer;
let registry: Registry;
const pushed = new Map<string, Map<string, PublishResult>>();

before(async () => {
  mirror = await sourceMirror(join(work.path, "mirror"));
  registry = await startRegistry(join(work.path, "registry"));
  http = await serveDir(dirRepo);
});
after(async () => {
  await mirror?.close();
  await http?.close();
  await registry?.stop();
  work.cleanup();
});

async function publish(target: string): Promise<Map<string, PublishResult>> {
  const out = new Map<string, PublishResult>();
  for (const name of ["kz", "kzcat"]) {
    const { r, json } = await kilnJson<PublishResult>(publisher, [
      "pkg",
      "publish",
      target,
      join(work.path, "recipes", name),
      "--repo",
      PACKAGES,
      "--mirror",
      mirror.url,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(json.artifact, `${name} was published with its build`);
    out.set(name, json);
  }
  return out;
}

/** A fresh KILN_HOME installs kzcat from `repo` alone; the lock holds the pushed digests. */
async function installFrom(repo: string, label: string, from: Map<string, PublishResult>): Promise<void> {
  const home = join(work.path, `home-${label}`);
  const project = join(work.path, `project-${label}`);
  mkdirSync(project, { recursive: true });
  writeFileSync(
    join(project, "kiln.toml"),
    `repositories = [${JSON.stringify(repo)}]\n[dependencies]\nkzcat = "^1"\n`,
  );
  const { r, json } = await kilnJson<InstallReport>(home, ["pkg", "install", project]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    json.packages.map((p) => [p.name, p.how]),
    [
      ["kz", "repository"],
      ["kzcat", "repository"],
    ],
  );
  const lock = readFileSync(join(project, "kiln.lock"), "utf8");
  for (const [name, p] of from) {
    const entry = lock.split("[[package]]").find((s) => s.includes(`name = "${name}"`))!;
    assert.ok(entry.includes(`recipe = "${p.recipe}"`), `${label}: ${name}'s recipe digest pulled = pushed`);
    assert.ok(
      entry.includes(`artifact = "${p.artifact}"`),
      `${label}: ${name}'s artifact digest pulled = pushed`,
    );
    assert.ok(entry.includes(`repository = ${JSON.stringify(repo)}`));
  }
  const v = await runKiln(["store", "verify"], { home });
  assert.equal(v.code, 0, v.stdout);
  const prog = json.packages[1]!.programs[0]!;
  const out = await run(prog, ["hello hello"]);
  assert.match(
    out.stdout,
    new RegExp(
      `kzcat: kz 1\\.0\\.0 packed 11 bytes into \\d+, adler32 ${adler32("hello hello")}, round trip ok`,
    ),
  );
}

describe("repositories: publish, then install from each kind", () => {
  before(() => {
    // Publish from copies, so that the catalogue's folders get no kiln.lock.
    for (const n of ["kz", "kzcat"]) {
      mkdirSync(join(work.path, "recipes"), { recursive: true });
      cpSync(join(PACKAGES, n), join(work.path, "recipes", n), { recursive: true });
    }
  });

  it("a directory: index.json and blobs by digest; publishing again changes nothing", async () => {
    pushed.set("dir", await publish(dirRepo));
    const index = JSON.parse(readFileSync(join(dirRepo, "index.json"), "utf8")) as {
      packages: Record<string, unknown[]>;
    };
    assert.deepEqual(Object.keys(index.packages), ["kz", "kzcat"]);
    for (const p of pushed.get("dir")!.values()) {
      for (const d of [p.recipe, p.artifact!]) {
        const bytes = readFileSync(join(dirRepo, "blobs", "sha256", d));
        assert.equal(createHash("sha256").update(bytes).digest("hex"), d);
      }
    }
    const again = await publish(dirRepo);
    for (const p of again.values()) assert.equal(p.changed, false);
    await installFrom(dirRepo, "dir", pushed.get("dir")!);
  });

  it("the same directory over HTTP on loopback (read-only)", async () => {
    await installFrom(http.url, "http", pushed.get("dir")!);
    assert.ok(http.log.some((l) => l === "GET /index.json"));
    const ro = await runKiln(["pkg", "publish", http.url, join(work.path, "recipes", "kz")], {
      home: publisher,
    });
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /KILN_EREPO_READONLY/);
  });

  it("an OCI registry (docker-registry on loopback): artifacts with kiln media types", async () => {
    const repo = `oci://${registry.host}/kiln`;
    pushed.set("oci", await publish(repo));
    for (const [name, p] of pushed.get("oci")!) {
      const m = await fetch(`http://${registry.host}/v2/kiln/${name}/manifests/1.0.0`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      const text = await m.text();
      assert.equal(`sha256:${createHash("sha256").update(text).digest("hex")}`, p.digest);
      const manifest = JSON.parse(text) as {
        artifactType: string;
        layers: { mediaType: string; digest: string }[];
      };
      assert.equal(manifest.artifactType, "application/vnd.kiln.package.v1");
      assert.deepEqual(
        manifest.layers.map((l) => [l.mediaType, l.digest]),
        [
          ["application/vnd.kiln.package.recipe.v1.tar", `sha256:${p.recipe}`],
          ["application/vnd.kiln.package.artifact.v1.tar", `sha256:${p.artifact}`],
        ],
      );
      for (const d of [p.recipe, p.artifact!]) {
        const data = readFileSync(
          join(registry.root, "docker", "registry", "v2", "blobs", "sha256", d.slice(0, 2), d, "data"),
        );
        assert.equal(
          createHash("sha256").update(data).digest("hex"),
          d,
          "what the registry stores hashes to the pushed digest",
        );
      }
    }
    // The registry's digests and the directory's are the same builds.
    for (const n of ["kz", "kzcat"])
      assert.equal(pushed.get("oci")!.get(n)!.artifact, pushed.get("dir")!.get(n)!.artifact);
    const s = await kilnJson<{ name: string; prebuilt: boolean }[]>(publisher, [
      "pkg",
      "search",
      "kz",
      "--repo",
      repo,
    ]);
    assert.deepEqual(
      s.json.map((h) => [h.name, h.prebuilt]),
      [
        ["kz", true],
        ["kzcat", true],
      ],
    );
    await installFrom(repo, "oci", pushed.get("oci")!);
  });

  it("pkg info reads versions from any kind", async () => {
    const { r, json } = await kilnJson<{ versions: { version: string; repository: string }[] }>(publisher, [
      "pkg",
      "info",
      "kzcat@^1",
      "--repo",
      `oci://${registry.host}/kiln`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      json.versions.map((v) => v.version),
      ["1.0.0"],
    );
  });
});
