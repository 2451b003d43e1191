// Xen and Firecracker cannot run here: their configurations are checked against golden files (paths
// normalised; regenerate with KILN_UPDATE_GOLDEN=1 when bake's output changes on purpose) and Firecracker's
// against its API schema; real launches must fail clearly.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Ajv } from "ajv";
import { which } from "../../src/core/exec.js";
import { ROOT, runKiln } from "../helpers.js";
import { bakeImage, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-dryrun-"));
const home = join(work, "home");
const GOLDEN = join(ROOT, "test", "fixtures", "launch");
let image = "";
let xenImage = "";
let disk = "";
before(() => {
  image = bakeImage(work, "hello");
  xenImage = bakeImage(work, "hello", "xen");
  disk = join(work, "data.img");
  writeFileSync(disk, "");
  truncateSync(disk, 1 << 20);
});
after(() => rmSync(work, { recursive: true, force: true }));

const kiln = (args: string[]) => runKiln(args, { home });
// The kernel QEMU, Xen and Firecracker boot is the ELF in the image's bzImage, cached under its digest.
const normalise = (s: string) =>
  s
    .replaceAll(work, "<WORK>")
    .replace(/\b[0-9a-f]{64}\.elf\b/g, "<SHA256>.elf")
    .replace(/kiln-hotplug-[0-9a-f]{16}/g, "kiln-hotplug-<HASH>");

/** Compare with a golden file; KILN_UPDATE_GOLDEN=1 rewrites it (review the diff before committing). */
function golden(name: string, actual: string): void {
  const file = join(GOLDEN, name);
  if (process.env.KILN_UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, "utf8"), `differs from ${file}`);
}

/** The one ELF kernel the launcher has cached for this test's image. */
function directKernelOf(kilnHome: string): string {
  const dir = join(kilnHome, "cache", "kernels");
  const elfs = readdirSync(dir).filter((n) => n.endsWith(".elf"));
  assert.equal(elfs.length, 1, elfs.join(" "));
  return join(dir, elfs[0]!);
}

const common = ["--name", "golden", "-M", "256", "--cpus", "2", "-e", "GREETING=hi"];

describe("dry runs", () => {
  it("xen: an xl configuration for a PVH guest and the xl command", async () => {
    const r = await kiln([
      "launch",
      "xen",
      "--dry-run",
      ...common,
      "--net",
      "bridge:xenbr0",
      "-b",
      `${disk},/data`,
      xenImage,
      "--",
      "--port",
      "80",
    ]);
    assert.equal(r.code, 0, r.stderr);
    golden("xen-dryrun.txt", normalise(r.stdout));
    assert.match(r.stdout, /^type = "pvh"$/m);
    assert.match(r.stdout, /^xl create -c \S+\/machines\/golden\/xen\.cfg$/m);
    // The launch-time configuration goes into xenstore, not onto the command line.
    assert.match(r.stdout, /^cmdline = ".*\bkiln\.xs=1\b.*"$/m);
    assert.doesNotMatch(r.stdout, /kiln\.config=/);
    // Nothing is written by a dry run.
    assert.deepEqual(JSON.parse((await kiln(["ps", "--json"])).stdout), []);
  });

  it("firecracker: a JSON configuration that follows Firecracker's schema, booting the bzImage's ELF", async () => {
    const r = await kiln([
      "launch",
      "firecracker",
      "--dry-run",
      "--json",
      ...common,
      "--net",
      "tap:tap0,mac=06:00:ac:10:00:02",
      "-b",
      `${disk},/data,ro`,
      image,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as {
      command: string[];
      files: { path: string; content: string }[];
      warnings: string[];
    };
    assert.deepEqual(plan.command.slice(0, 3), ["firecracker", "--no-api", "--config-file"]);
    assert.equal(plan.files[0]?.path, plan.command[3]);
    const cfg = JSON.parse(plan.files[0]!.content);
    const schema = JSON.parse(readFileSync(join(GOLDEN, "firecracker-schema.json"), "utf8"));
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    assert.ok(validate(cfg), JSON.stringify(validate.errors));
    golden("firecracker-dryrun.json", normalise(plan.files[0]!.content));
    assert.equal(cfg["boot-source"].kernel_image_path, directKernelOf(home));
    assert.doesNotMatch(plan.warnings.join("\n"), /KILN_EKERNEL_FORMAT/);
  });

  it("qemu: prints the command without starting anything", async () => {
    const r = await kiln(["launch", "qemu", "--dry-run", "--json", "--name", "dry", "-p", "8080:80", image]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { command: string[]; accel: string; configVia: string };
    const kernel = plan.command[plan.command.indexOf("-kernel") + 1]!;
    assert.equal(kernel, directKernelOf(home));
    // The stock bzImage's payload, taken out: an ELF with the PVH entry note (Xen, type 18) QEMU starts at.
    const notes = execFileSync("readelf", ["-nW", kernel], { encoding: "utf8" });
    assert.match(notes, /^\s+Xen\s+0x[0-9a-f]+\s+Unknown note type: \(0x00000012\)/m);
    assert.ok(["kvm", "tcg"].includes(plan.accel));
    assert.equal(plan.configVia, "cmdline");
    assert.deepEqual(qemuProcesses(image), []);
    assert.deepEqual(JSON.parse((await kiln(["ps", "--json"])).stdout), []);
  });
});

describe("launches where the hypervisor is missing", () => {
  it("xen without xl fails with KILN_EBACKEND_UNAVAILABLE and a hint", async () => {
    // Debian puts xl in /usr/sbin only: a PATH without it is a host without Xen's tools.
    const r = await runKiln(["launch", "xen", xenImage], { home, env: { PATH: "/usr/bin:/bin" } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error KILN_EBACKEND_UNAVAILABLE: Xen is not available: `xl` not found/);
    assert.match(r.stderr, /hint: .*--dry-run/);
  });

  it("xen with its tools but no hypervisor (this host is no dom0) fails the same way", async (t) => {
    if (!(await which("xl"))) return t.skip("Xen's tools are not installed here (.ci/run installs them)");
    const r = await kiln(["launch", "xen", xenImage]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error KILN_EBACKEND_UNAVAILABLE: Xen is not available: `xl info` failed/);
    assert.match(r.stderr, /hint: .*xen-host/);
  });

  it("xen refuses, before xl runs, disks for an image without Xen's block frontend", async () => {
    // Baked for QEMU: its modules are virtio's; the disk would never appear in the guest.
    const r = await kiln(["launch", "xen", "--dry-run", "-b", `${disk},/data`, image]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /error KILN_EIMAGE_NO_DRIVER: Cannot attach disks to image "hello" on Xen/);
  });

  it("firecracker fails with KILN_EBACKEND_UNAVAILABLE and a hint", async (t) => {
    if (await which("firecracker")) return t.skip("firecracker is installed here");
    const r = await kiln(["launch", "firecracker", image]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /error KILN_EBACKEND_UNAVAILABLE: Firecracker is not available: `firecracker` not found/,
    );
    assert.match(r.stderr, /hint: .*--dry-run/);
    assert.deepEqual(JSON.parse((await kiln(["ps", "--json"])).stdout), []);
  });
});
