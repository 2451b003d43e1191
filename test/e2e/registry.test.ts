// kiln push / kiln pull against Debian's docker-registry (a real distribution registry) on loopback,
// cross-checked with skopeo; faults from a proxy that cuts or changes a blob, and a read-only registry.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isKilnError } from "../../src/core/errors.js";
import { RegistryClient } from "../../src/core/registry/client.js";
import { getFormat } from "../../src/image/format.js";
import { pullImage } from "../../src/image/ociPull.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { faultyProxy, helloImage, type Registry, startRegistry } from "./ociFixture.js";

const tmp = tmpDir("kiln-registry-");
let reg: Registry;
let imageDir = "";
let ociArchive = "";

before(async () => {
  imageDir = await helloImage();
  reg = await startRegistry(join(tmp.path, "registry"));
  ociArchive = join(tmp.path, "hello.oci.tar");
  await (await getFormat("oci")).make(await readImage(imageDir), ociArchive, {});
});
after(async () => {
  await reg?.stop();
  tmp.cleanup();
});

const skopeoRaw = (ref: string) =>
  execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" });

function kilnJson(r: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  assert.equal(r.code, 0, `kiln failed: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout);
}

test("push an image directory as a kiln artifact, pull it back: same digest, same files; skopeo reads the registry", async () => {
  const ref = `${reg.host}/kiln/hello:1.0`;
  const pushed = kilnJson(await runKiln(["push", imageDir, ref, "--json"])) as {
    digest: string;
    indexDigest: string;
    blobs: { uploaded: boolean }[];
  };
  // The image's manifest, kernel, initrd, and its SBOM in SPDX and CycloneDX.
  assert.equal(pushed.blobs.length, 5);
  assert.ok(pushed.blobs.every((b) => b.uploaded));

  const out = join(tmp.path, "pulled");
  const pulled = kilnJson(await runKiln(["pull", ref, out, "--json"])) as {
    digest: string;
    indexDigest: string;
  };
  assert.equal(pulled.digest, pushed.digest);
  assert.equal(pulled.indexDigest, pushed.indexDigest);
  for (const f of ["kernel", "initrd", "manifest.json"]) {
    assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(imageDir, f)), f);
  }
  assert.deepEqual(readdirSync(out).sort(), ["initrd", "kernel", "manifest.json"]);

  // The tag names an index with the platform; the manifest under it is the archive's, byte for byte.
  const index = JSON.parse(skopeoRaw(ref));
  assert.equal(index.mediaType, "application/vnd.oci.image.index.v1+json");
  assert.equal(index.manifests[0].digest, pushed.digest);
  assert.equal(index.manifests[0].platform.architecture, "amd64");
  const byDigest = skopeoRaw(`${reg.host}/kiln/hello@${pushed.digest}`);
  const fromArchive = execFileSync("skopeo", ["inspect", "--raw", `oci-archive:${ociArchive}`], {
    encoding: "utf8",
  });
  assert.equal(byDigest, fromArchive);
  assert.deepEqual(
    (JSON.parse(byDigest) as { layers: { mediaType: string }[] }).layers.map((l) => l.mediaType).slice(2),
    ["application/spdx+json", "application/vnd.cyclonedx+json"],
  );

  // Pulling by digest works too, and the pull into an existing image directory replaces it.
  const again = kilnJson(
    await runKiln(["pull", `${reg.host}/kiln/hello@${pushed.digest}`, out, "--json"]),
  ) as {
    digest: string;
  };
  assert.equal(again.digest, pushed.digest);
});

test("push an oci-archive: blobs already there are skipped; pull --archive gives the same file back", async () => {
  const first = kilnJson(await runKiln(["push", ociArchive, `${reg.host}/kiln/arch:latest`, "--json"])) as {
    blobs: { uploaded: boolean }[];
  };
  assert.ok(first.blobs.every((b) => b.uploaded));
  const second = kilnJson(await runKiln(["push", ociArchive, `${reg.host}/kiln/arch:other`, "--json"])) as {
    blobs: { uploaded: boolean }[];
    bytesUploaded: number;
  };
  assert.ok(second.blobs.every((b) => !b.uploaded));
  assert.equal(second.bytesUploaded, 0);
  const back = join(tmp.path, "back.tar");
  kilnJson(await runKiln(["pull", "--archive", `${reg.host}/kiln/arch:latest`, back, "--json"]));
  assert.deepEqual(readFileSync(back), readFileSync(ociArchive));
});

test("containerdisk: pushed, inspected by skopeo as linux/amd64, pulled back as the same archive", async () => {
  const ref = `${reg.host}/vms/hello:latest`;
  const pushed = kilnJson(await runKiln(["push", "--format", "containerdisk", imageDir, ref, "--json"])) as {
    digest: string;
    indexDigest: string;
  };
  const info = JSON.parse(
    execFileSync("skopeo", ["inspect", "--tls-verify=false", `docker://${ref}`], { encoding: "utf8" }),
  );
  // skopeo reports the digest of what the tag names (the index) and reads the linux/amd64 image under it.
  assert.equal(info.Digest, pushed.indexDigest);
  assert.equal(info.Architecture, "amd64");
  assert.equal(info.Os, "linux");
  const local = join(tmp.path, "cd.tar");
  await (await getFormat("containerdisk")).make(await readImage(imageDir), local, {});
  const back = join(tmp.path, "cd-back.tar");
  const pulled = kilnJson(await runKiln(["pull", "--archive", ref, back, "--json"])) as { digest: string };
  assert.equal(pulled.digest, pushed.digest);
  assert.deepEqual(readFileSync(back), readFileSync(local));
  // It is not a kiln artifact: pulling it as an image directory says how to get it instead.
  const r = await runKiln(["pull", ref, join(tmp.path, "not-kiln"), "--json"]);
  assert.equal(r.code, 1);
  assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, "KILN_EPULL_NOT_KILN");
  assert.equal(existsSync(join(tmp.path, "not-kiln")), false);
});

test("chunked upload (PATCH with Content-Range) lands the same blob as a monolithic one", async () => {
  const image = await readImage(imageDir);
  const c = new RegistryClient(reg.host, { monolithicMax: 1 << 20, chunkSize: 3 << 20, credentials: null });
  const digest = `sha256:${image.manifest.kernel.sha256}`;
  const r = await c.pushBlob("kiln/chunked", {
    digest,
    size: image.manifest.kernel.size,
    path: image.kernel,
  });
  assert.deepEqual(r, { uploaded: true });
  assert.equal(await c.hasBlob("kiln/chunked", digest), true);
  const dest = join(tmp.path, "chunked-kernel");
  await c.fetchBlob("kiln/chunked", digest, dest, { size: image.manifest.kernel.size });
  assert.deepEqual(readFileSync(dest), readFileSync(image.kernel));
});

test("a connection cut in the middle of a blob is KILN_EREGISTRY_IO and leaves nothing behind", async () => {
  const ref = `${reg.host}/kiln/hello:1.0`;
  kilnJson(await runKiln(["push", imageDir, ref, "--json"]));
  const kernelDigest = `sha256:${(await readImage(imageDir)).manifest.kernel.sha256}`;
  const proxy = await faultyProxy(reg.host, kernelDigest, "cut", 3_000_000);
  try {
    const parent = join(tmp.path, "cut");
    const out = join(parent, "image");
    await assert.rejects(
      pullImage(`${proxy.host}/kiln/hello:1.0`, out),
      (e) => isKilnError(e) && e.code === "KILN_EREGISTRY_IO" && e.message.includes(proxy.host),
    );
    assert.equal(proxy.hits, 1);
    assert.equal(existsSync(out), false);
    assert.deepEqual(
      existsSync(parent) ? readdirSync(parent) : [],
      [],
      "no partial directory or temporary file",
    );
  } finally {
    await proxy.close();
  }
});

test("a blob changed on the way is KILN_EDIGEST and leaves nothing behind", async () => {
  const kernelDigest = `sha256:${(await readImage(imageDir)).manifest.kernel.sha256}`;
  const proxy = await faultyProxy(reg.host, kernelDigest, "flip", 1_000_000);
  try {
    const parent = join(tmp.path, "flip");
    const out = join(parent, "image");
    const r = await runKiln(["pull", `${proxy.host}/kiln/hello:1.0`, out, "--json"]);
    assert.equal(r.code, 1);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, "KILN_EDIGEST");
    assert.ok(err.message.includes(kernelDigest), err.message);
    assert.equal(proxy.hits, 1);
    assert.deepEqual(existsSync(parent) ? readdirSync(parent) : [], []);
  } finally {
    await proxy.close();
  }
});

test("a read-only registry refuses the push with a clear error quoting the reference", async () => {
  const ro = await startRegistry(join(tmp.path, "ro"), { readonly: true });
  try {
    const ref = `${ro.host}/kiln/hello:1.0`;
    const r = await runKiln(["push", imageDir, ref]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /KILN_EREGISTRY_UNSUPPORTED/);
    assert.ok(r.stderr.includes(`"${ro.host}/kiln/hello`), r.stderr);
    assert.match(r.stderr, /405/);
    const missing = await runKiln(["pull", `${ro.host}/kiln/nothing:1`, join(tmp.path, "ro-out")]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /KILN_EREGISTRY_NOT_FOUND.*MANIFEST_UNKNOWN|KILN_EREGISTRY_NOT_FOUND.*NAME_UNKNOWN/,
    );
  } finally {
    await ro.stop();
  }
});

test("a registry with users: no credentials is KILN_EREGISTRY_AUTH with a login hint; the Docker config's work", async () => {
  const locked = await startRegistry(join(tmp.path, "locked"), {
    user: { name: "kiln", password: "s3cret" },
  });
  try {
    const ref = `${locked.host}/kiln/hello:1`;
    const cfg = join(tmp.path, "docker-config");
    const anon = await runKiln(["push", imageDir, ref, "--json"], { env: { DOCKER_CONFIG: cfg } });
    assert.equal(anon.code, 1);
    const err = (JSON.parse(anon.stdout) as { error: { code: string; message: string; hint: string } }).error;
    assert.equal(err.code, "KILN_EREGISTRY_AUTH");
    assert.match(err.message, /401/);
    assert.match(err.hint, /docker login/);
    mkdirSync(cfg, { recursive: true });
    const auth = Buffer.from("kiln:s3cret").toString("base64");
    writeFileSync(join(cfg, "config.json"), JSON.stringify({ auths: { [locked.host]: { auth } } }));
    const pushed = kilnJson(
      await runKiln(["push", imageDir, ref, "--json"], { env: { DOCKER_CONFIG: cfg } }),
    ) as {
      digest: string;
    };
    const out = join(tmp.path, "locked-pull");
    const pulled = kilnJson(await runKiln(["pull", ref, out, "--json"], { env: { DOCKER_CONFIG: cfg } })) as {
      digest: string;
    };
    assert.equal(pulled.digest, pushed.digest);
    assert.deepEqual(readFileSync(join(out, "kernel")), readFileSync(join(imageDir, "kernel")));
  } finally {
    await locked.stop();
  }
});
