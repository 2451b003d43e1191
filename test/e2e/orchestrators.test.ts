// kiln image kubevirt and kiln image nomad: Kubernetes and Nomad cannot run here, so what they are given is
// checked against schemas transcribed from their APIs (test/fixtures/kubevirt, test/fixtures/nomad) and
// pinned by golden files (digests and sizes normalised; KILN_UPDATE_GOLDEN=1 rewrites them). What can run
// here does: the disk they name is pushed to a real registry (Debian's docker-registry) with the commands
// kiln prints, its digests match what the manifest and the job pin, and the layer Nomad's artifact fetches
// from the registry unpacks to a disk that boots and prints hello's line.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import { ROOT, run, runKiln } from "../helpers.js";
import { bakeImage } from "./launchFixture.js";
import { type Registry, startRegistry } from "./ociFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-orchestrators-"));
const home = join(work, "home");
const kiln = (args: string[], timeoutMs = 180_000) => runKiln(args, { home, timeoutMs });
let registry: Registry;
let hello = "";
let httpd = "";

before(async () => {
  registry = await startRegistry(join(work, "registry"));
  hello = bakeImage(work, "hello");
  httpd = bakeImage(work, "httpd");
});
after(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const ajv = new Ajv({ allErrors: true, strict: false });
const schema = (name: string) =>
  ajv.compile(JSON.parse(readFileSync(join(ROOT, "test", "fixtures", name, "schema.json"), "utf8")));

/** Compared as JSON values: the repository's formatter lays the golden files out its own way. */
function golden(file: string, actual: string): void {
  const path = join(ROOT, "test", "fixtures", file);
  if (process.env.KILN_UPDATE_GOLDEN === "1") writeFileSync(path, actual);
  assert.deepEqual(JSON.parse(actual), JSON.parse(readFileSync(path, "utf8")), `differs from ${path}`);
}

/** What depends on the kernel Debian ships today and on the registry's port. */
const normalise = (s: string) =>
  s
    .replaceAll(registry.host, "<REGISTRY>")
    .replace(/sha256:[0-9a-f]{64}/g, "sha256:<DIGEST>")
    .replace(/"memory": "\d+Mi"/g, '"memory": "<MIB>Mi"')
    .replace(/"MemoryMB": \d+/g, '"MemoryMB": "<MIB>"');

/** Push the disk exactly as kiln said to (its printed commands, with kiln as this test runs it). */
async function pushAsTold(push: string[]): Promise<void> {
  for (const line of push) {
    const words = line.split(" ");
    assert.equal(words[0], "kiln");
    const r = await runKiln(words.slice(1), { home, cwd: work, timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${line}: ${r.stderr}`);
  }
}

describe("kiln image kubevirt", () => {
  it("kernel boot: the container it pins is what kiln pushes; its kernel and initrd boot with its kernelArgs", async () => {
    const ref = `${registry.host}/kiln/hello-kernel:1`;
    const out = join(work, "hello-vm.json");
    const r = await kiln(["image", "kubevirt", hello, "--ref", ref, "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, "utf8");
    const validate = schema("kubevirt");
    const m = JSON.parse(text);
    assert.ok(validate(m), JSON.stringify(validate.errors, null, 2));
    golden("kubevirt/hello-vm.json", normalise(text));
    const kb = m.items[0].spec.template.spec.domain.firmware.kernelBoot;
    assert.ok(kb.container.image.startsWith(`${ref}@sha256:`), kb.container.image);
    await pushAsTold((JSON.parse(r.stdout) as { details: { push: string[] } }).details.push);
    // What virt-launcher does: pull the pinned image, take the two files out of its layer, boot them
    // directly (libvirt's direct kernel boot on q35; QEMU's own here) with kernelArgs and the pod network's
    // DHCP (QEMU's user networking answers DHCP as KubeVirt's masquerade binding does).
    const digest = kb.container.image.split("@")[1];
    const man = await fetch(`http://${registry.host}/v2/kiln/hello-kernel/manifests/${digest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(man.status, 200);
    const layer = ((await man.json()) as { layers: { digest: string }[] }).layers[0]!.digest;
    const blob = Buffer.from(
      await (await fetch(`http://${registry.host}/v2/kiln/hello-kernel/blobs/${layer}`)).arrayBuffer(),
    );
    const root = join(work, "launcher");
    mkdirSync(root, { recursive: true });
    writeFileSync(join(work, "kernel-layer.tar.gz"), blob);
    execFileSync("tar", ["-xzf", join(work, "kernel-layer.tar.gz"), "-C", root]);
    assert.ok(readFileSync(join(root, kb.container.kernelPath)).equals(readFileSync(join(hello, "kernel"))));
    assert.ok(readFileSync(join(root, kb.container.initrdPath)).equals(readFileSync(join(hello, "initrd"))));
    const boot = await run(
      "qemu-system-x86_64",
      [
        "-M",
        "q35",
        "-accel",
        "tcg",
        "-m",
        "256",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-nic",
        "user,model=virtio-net-pci",
        "-kernel",
        join(root, kb.container.kernelPath),
        "-initrd",
        join(root, kb.container.initrdPath),
        "-append",
        kb.kernelArgs,
      ],
      { timeoutMs: 180_000 },
    );
    assert.match(boot.stdout, /^kiln: net eth0 10\.0\.2\.15\/24 up \(dhcp\)\r?$/m);
    assert.match(boot.stdout, /^Hello from kiln!\r?$/m);
    assert.match(boot.stdout, /^kiln: exit 0\r?$/m);
  });

  it("--boot disk: a VirtualMachine and a Service that follow the API; the containerDisk it pins is what kiln pushes", async () => {
    const ref = `${registry.host}/kiln/httpd:1`;
    const out = join(work, "httpd-vm.json");
    const r = await kiln([
      "image",
      "kubevirt",
      httpd,
      "--boot",
      "disk",
      "--ref",
      ref,
      "-p",
      "8080",
      "-o",
      out,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, "utf8");
    const validate = schema("kubevirt");
    const m = JSON.parse(text);
    assert.ok(validate(m), JSON.stringify(validate.errors, null, 2));
    golden("kubevirt/httpd-vm.json", normalise(text));
    const pinned: string = m.items[0].spec.template.spec.volumes[0].containerDisk.image;
    assert.ok(pinned.startsWith(`${ref}@sha256:`), pinned);
    // Push as told; then the registry serves the pinned manifest, and the tag (an image index, as kiln
    // pushes) lists it: a pull by tag and a pull by digest get the same disk.
    await pushAsTold((JSON.parse(r.stdout) as { details: { push: string[] } }).details.push);
    const digest = pinned.split("@")[1]!;
    const byDigest = await fetch(`http://${registry.host}/v2/kiln/httpd/manifests/${digest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    assert.equal(byDigest.status, 200);
    const body = Buffer.from(await byDigest.arrayBuffer());
    assert.equal(`sha256:${createHash("sha256").update(body).digest("hex")}`, digest);
    const index = await fetch(`http://${registry.host}/v2/kiln/httpd/manifests/1`, {
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    assert.equal(index.status, 200);
    const listed = ((await index.json()) as { manifests: { digest: string }[] }).manifests.map(
      (x) => x.digest,
    );
    assert.deepEqual(listed, [digest]);
  });

  it("refuses to write one without --ref", async () => {
    const r = await kiln(["image", "kubevirt", hello, "-o", join(work, "x.json")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /KILN_EREF_MISSING/);
  });
});

describe("kiln image nomad", () => {
  it("a job for the qemu driver that follows the API; its artifact, fetched from the registry, boots", async () => {
    const ref = `${registry.host}/kiln/hello:1`;
    const out = join(work, "hello-job.json");
    const r = await kiln(["image", "nomad", hello, "--ref", ref, "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(out, "utf8");
    const validate = schema("nomad");
    const job = JSON.parse(text);
    assert.ok(validate(job), JSON.stringify(validate.errors, null, 2));
    golden("nomad/hello-job.json", normalise(text));
    await pushAsTold((JSON.parse(r.stdout) as { details: { push: string[] } }).details.push);
    // What go-getter does for the artifact: GET the source, check the checksum, unpack the tar.gz.
    const task = job.Job.TaskGroups[0].Tasks[0];
    const art = task.Artifacts[0];
    const res = await fetch(art.GetterSource);
    assert.equal(res.status, 200, art.GetterSource);
    const blob = Buffer.from(await res.arrayBuffer());
    assert.equal(`sha256:${createHash("sha256").update(blob).digest("hex")}`, art.GetterOptions.checksum);
    const alloc = join(work, "alloc");
    mkdirSync(join(alloc, art.RelativeDest), { recursive: true });
    writeFileSync(join(work, "layer.tar.gz"), blob);
    execFileSync("tar", ["-xzf", join(work, "layer.tar.gz"), "-C", join(alloc, art.RelativeDest)]);
    // The disk at image_path boots (here with kiln's QEMU launcher and user networking, whose DHCP server
    // answers as the qemu driver's user networking does).
    const boot = await kiln(
      ["launch", "qemu", "--net", "user", join(alloc, task.Config.image_path)],
      300_000,
    );
    assert.equal(boot.code, 0, boot.stderr);
    assert.match(boot.stdout, /^Hello from kiln!\r?$/m);
    assert.match(boot.stdout, /^kiln: net eth0 10\.0\.2\.15\/24 up \(dhcp\)\r?$/m);
  });
});
