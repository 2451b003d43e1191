// The `oci` and `containerdisk` launchables, read back by skopeo (Debian package skopeo), GNU tar and QEMU.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isKilnError } from "../../src/core/errors.js";
import { getFormat } from "../../src/image/format.js";
import { readOciArchive } from "../../src/image/ociLayout.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { cyclonedxValidator, spdxValidator } from "./complianceSchemas.js";
import { bootUntilExit } from "./imageFixture.js";
import { helloImage } from "./ociFixture.js";

const tmp = tmpDir("kiln-oci-");
let imageDir = "";

before(async () => {
  imageDir = await helloImage();
});
after(() => tmp.cleanup());

const skopeo = (...args: string[]) => execFileSync("skopeo", args, { encoding: "utf8" });
const member = (archive: string, name: string) =>
  execFileSync("tar", ["-xOf", archive, name], { maxBuffer: 1 << 30 });

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir))
    out[f] = `${statSync(join(dir, f)).mtimeMs}:${readFileSync(join(dir, f)).toString("base64").length}`;
  return out;
}

test("oci: an artifact skopeo reads, with the image's parts and SBOMs as its config and layers, same bytes every time", async () => {
  const image = await readImage(imageDir);
  const before = snapshot(imageDir);
  const fmt = await getFormat("oci");
  const a = join(tmp.path, "a.tar");
  const b = join(tmp.path, "b.tar");
  const r = await fmt.make(image, a, {});
  await fmt.make(image, b, {});
  assert.deepEqual(readFileSync(a), readFileSync(b));
  assert.equal(r.format, "oci");
  assert.equal(r.size, statSync(a).size);
  assert.deepEqual(snapshot(imageDir), before, "the image is not modified");

  const manifest = JSON.parse(skopeo("inspect", "--raw", `oci-archive:${a}`));
  const m = image.manifest;
  assert.equal(manifest.mediaType, "application/vnd.oci.image.manifest.v1+json");
  assert.equal(manifest.artifactType, "application/vnd.kiln.image.v1");
  assert.equal(manifest.config.mediaType, "application/vnd.kiln.image.config.v1+json");
  assert.deepEqual(
    manifest.layers.map(
      (l: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }) => [
        l.mediaType,
        l.digest,
        l.size,
        l.annotations["org.opencontainers.image.title"],
      ],
    ),
    [
      ["application/vnd.kiln.kernel.v1", `sha256:${m.kernel.sha256}`, m.kernel.size, "kernel"],
      ["application/vnd.kiln.initrd.v1", `sha256:${m.initrd.sha256}`, m.initrd.size, "initrd"],
      ["application/spdx+json", manifest.layers[2].digest, manifest.layers[2].size, "sbom.spdx.json"],
      ["application/vnd.cyclonedx+json", manifest.layers[3].digest, manifest.layers[3].size, "sbom.cdx.json"],
    ],
  );
  // The SBOM layers are what `kiln sbom` prints, each valid against its official schema.
  const spdxLayer = member(a, `blobs/sha256/${manifest.layers[2].digest.slice(7)}`).toString();
  assert.equal(spdxLayer, (await runKiln(["sbom", imageDir, "--format", "spdx"])).stdout);
  const validSpdx = spdxValidator();
  assert.ok(validSpdx(JSON.parse(spdxLayer)), JSON.stringify(validSpdx.errors?.slice(0, 3)));
  const cdxLayer = member(a, `blobs/sha256/${manifest.layers[3].digest.slice(7)}`).toString();
  assert.equal(cdxLayer, (await runKiln(["sbom", imageDir, "--format", "cyclonedx"])).stdout);
  const validCdx = cyclonedxValidator();
  assert.ok(validCdx(JSON.parse(cdxLayer)), JSON.stringify(validCdx.errors?.slice(0, 3)));
  assert.equal(manifest.annotations["org.opencontainers.image.title"], m.name);
  assert.equal(manifest.annotations["org.opencontainers.image.created"], undefined);
  assert.equal(manifest.annotations["dev.kiln.kernel.release"], m.kernel.release);
  // The config blob is the image's manifest.json, byte for byte.
  const config = member(a, `blobs/sha256/${manifest.config.digest.slice(7)}`);
  assert.deepEqual(config, readFileSync(join(imageDir, "manifest.json")));
  assert.deepEqual(member(a, `blobs/sha256/${m.kernel.sha256}`), readFileSync(image.kernel));
  const index = JSON.parse(member(a, "index.json").toString());
  assert.deepEqual(index.manifests[0].platform, {
    architecture: "amd64",
    os: "linux",
    "os.version": m.kernel.release,
    "os.features": [...new Set(m.components.map((c) => c.name))].sort(),
  });
  assert.equal(index.manifests[0].artifactType, "application/vnd.kiln.image.v1");
  // skopeo can copy it into an OCI layout directory: the whole archive is consistent.
  skopeo("copy", "--quiet", `oci-archive:${a}`, `oci:${join(tmp.path, "layout")}:x`);
  assert.ok(existsSync(join(tmp.path, "layout", "blobs", "sha256", m.kernel.sha256)));
  // And kiln reads an archive skopeo wrote (its own tar writer, its own index.json).
  const bySkopeo = join(tmp.path, "skopeo.tar");
  skopeo("copy", "--quiet", `oci-archive:${a}`, `oci-archive:${bySkopeo}:v1`);
  const back = await readOciArchive(bySkopeo, "v1");
  assert.equal(back.digest, r.details?.digest);
  assert.deepEqual(
    back.blobs.map((x) => [x.digest, x.size]),
    [
      [manifest.config.digest, manifest.config.size],
      [`sha256:${m.kernel.sha256}`, m.kernel.size],
      [`sha256:${m.initrd.sha256}`, m.initrd.size],
      [manifest.layers[2].digest, manifest.layers[2].size],
      [manifest.layers[3].digest, manifest.layers[3].size],
    ],
  );
  const kernelBlob = back.blobs[1]!;
  const fd = readFileSync(bySkopeo).subarray(kernelBlob.offset!, kernelBlob.offset! + kernelBlob.size);
  assert.deepEqual(fd, readFileSync(image.kernel));
});

test("oci-archive reading: a wrong name or a damaged archive is a clear error", async () => {
  const a = join(tmp.path, "a.tar");
  await assert.rejects(
    readOciArchive(a, "nope"),
    (e) => isKilnError(e) && e.code === "KILN_EOCI_INVALID" && e.message.includes('"nope"'),
  );
  const cut = join(tmp.path, "cut.tar");
  writeFileSync(cut, readFileSync(a).subarray(0, 8192));
  await assert.rejects(
    readOciArchive(cut),
    (e) => isKilnError(e) && (e.code === "KILN_EARCHIVE_INVALID" || e.code === "KILN_EOCI_INVALID"),
  );
});

test("oci: an image changed after baking is refused with KILN_EIMAGE_CORRUPT and no output", async () => {
  const dir = join(tmp.path, "changed");
  mkdirSync(dir);
  for (const f of readdirSync(imageDir)) copyFileSync(join(imageDir, f), join(dir, f));
  const initrd = readFileSync(join(dir, "initrd"));
  initrd[initrd.length - 1] ^= 1;
  writeFileSync(join(dir, "initrd"), initrd);
  const out = join(tmp.path, "changed.tar");
  await assert.rejects(
    (await getFormat("oci")).make(await readImage(dir), out, {}),
    // Found while its SBOM is made, before anything is written; the message names the part and both digests.
    (e) =>
      isKilnError(e) &&
      e.code === "KILN_EIMAGE_CORRUPT" &&
      /initrd .* has sha256 [0-9a-f]{64}, but its manifest says/.test(e.message),
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(tmp.path).filter((f) => f.startsWith(".")),
    [],
    "no temporary files left",
  );
});

test("containerdisk: KubeVirt's layout (disk/disk.img, uid 107, 0440) in an image skopeo reads; the disk boots", async () => {
  const image = await readImage(imageDir);
  const fmt = await getFormat("containerdisk");
  const a = join(tmp.path, "cd-a.tar");
  const b = join(tmp.path, "cd-b.tar");
  const r = await fmt.make(image, a, {});
  await fmt.make(image, b, {});
  assert.deepEqual(readFileSync(a), readFileSync(b), "same image, same bytes");
  assert.equal(r.format, "containerdisk");

  const info = JSON.parse(skopeo("inspect", `oci-archive:${a}`));
  assert.equal(info.Architecture, "amd64");
  assert.equal(info.Os, "linux");
  assert.equal(info.Layers.length, 1);
  const manifest = JSON.parse(skopeo("inspect", "--raw", `oci-archive:${a}`));
  assert.equal(manifest.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
  const layerFile = join(tmp.path, "layer.tar.gz");
  writeFileSync(layerFile, member(a, `blobs/sha256/${manifest.layers[0].digest.slice(7)}`));
  const listing = execFileSync("tar", ["-tvzf", layerFile, "--numeric-owner"], { encoding: "utf8" })
    .trim()
    .split("\n");
  assert.equal(listing.length, 2);
  assert.match(listing[0]!, /^drwxr-xr-x 0\/0 .* disk\/$/);
  assert.match(listing[1]!, /^-r--r----- 107\/107 .* disk\/disk\.img$/);
  // The config's diff_id is the digest of the uncompressed layer.
  const config = JSON.parse(member(a, `blobs/sha256/${manifest.config.digest.slice(7)}`).toString());
  const diffId = execFileSync("sh", ["-c", `gzip -dc "$1" | sha256sum`, "sh", layerFile], {
    encoding: "utf8",
  }).split(" ")[0];
  assert.deepEqual(config.rootfs, { type: "layers", diff_ids: [`sha256:${diffId}`] });

  const x = join(tmp.path, "cdx");
  mkdirSync(x);
  execFileSync("tar", ["-xzf", layerFile, "-C", x]);
  const boot = await bootUntilExit(
    ["-M", "pc", "-m", "256", "-drive", `file=${join(x, "disk", "disk.img")},format=raw,if=virtio`],
    "tcg",
  );
  assert.ok(boot.ok, `the containerDisk's disk did not boot to "kiln: exit 0":\n${boot.output.slice(-2000)}`);
});
