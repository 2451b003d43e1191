// A Xen host as a product: the launchables of a `xen-host` image (Xen, Debian's generic kernel as dom0, Xen's
// toolstack run by kiln-init) boot Xen by multiboot from syslinux's mboot.c32, and `kiln launch qemu` boots
// them through SeaBIOS on the CPU model and memory Xen needs, told by the medium itself. Two real boots
// (raw-bios, iso) under software emulation, each to kiln-init's "ready" line in dom0 once xenstored,
// xen-init-dom0 and xenconsoled are up; the image's SBOM lists the hypervisor; the image travels whole
// through a registry; the formats that cannot boot it refuse clearly.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN, runKiln, sharedHome } from "../helpers.js";
import { checkSboms } from "./complianceSchemas.js";
import { qemuProcesses } from "./launchFixture.js";
import { startRegistry } from "./ociFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-xen-launchables-"));
// Machine state of its own; the image is baked from the shared home's components.
const home = join(work, "home");
const image = join(work, "xen-host");
/** kiln-init in dom0 once the toolstack's daemons are up (it has no program of its own to start). */
const READY = /^kiln: ready \(no main program\)/m;

before(() => {
  const env = { ...process.env, KILN_HOME: sharedHome() };
  const kiln = (args: string[]) =>
    execFileSync(process.execPath, [KILN, ...args, "--quiet"], { env, stdio: ["ignore", "pipe", "pipe"] });
  kiln(["components", "fetch", "--platform", "xen-host"]);
  kiln(["bake", "xen-host", image]);
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => runKiln(args, { home, timeoutMs: 300_000 });
const manifest = () => JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));

async function make(format: string, out: string, extra: string[] = []) {
  const file = join(work, out);
  const r = await runKiln(["image", format, image, "-o", file, "--json", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return { file, details: JSON.parse(r.stdout).details };
}

/** Follow a detached machine's console (kiln logs -f) until every pattern has shown, or the time is up. */
function waitConsole(name: string, patterns: RegExp[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const follow: ChildProcess = spawn(process.execPath, [KILN, "logs", "-f", name], {
      env: { ...process.env, KILN_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let text = "";
    const done = (err?: Error) => {
      clearTimeout(timer);
      follow.kill();
      if (err) reject(err);
      else resolve(text);
    };
    const timer = setTimeout(
      () =>
        done(
          new Error(
            `${name}: not all of ${patterns.join(", ")} within ${timeoutMs} ms:\n${text.slice(-3000)}`,
          ),
        ),
      timeoutMs,
    );
    follow.stdout!.on("data", (b: Buffer) => {
      text += b.toString("utf8");
      if (patterns.every((p) => p.test(text))) done();
    });
    follow.on("close", () => done(new Error(`${name}: the machine ended first:\n${text.slice(-3000)}`)));
  });
}

describe("xen-host launchables", () => {
  it("the SBOM lists Xen as a part: Debian's package, version, GPL-2.0-only, purl, the file's digest", async () => {
    const m = manifest();
    const { spdx, cdx } = await checkSboms(image, []);
    const doc = spdx.doc as {
      packages: {
        name: string;
        versionInfo?: string;
        licenseConcluded: string;
        externalRefs?: { referenceLocator: string }[];
        checksums?: { algorithm: string; checksumValue: string }[];
      }[];
      files: { fileName: string; checksums: { algorithm: string; checksumValue: string }[] }[];
    };
    const pkg = doc.packages.find((p) => p.name === m.hypervisor.package);
    assert.ok(pkg, `no package ${m.hypervisor.package} in the SPDX document`);
    assert.equal(pkg.versionInfo, m.hypervisor.version);
    assert.equal(pkg.licenseConcluded, "GPL-2.0-only");
    assert.equal(
      pkg.externalRefs?.[0]?.referenceLocator,
      `pkg:deb/debian/${m.hypervisor.package}@${m.hypervisor.version}?arch=amd64&distro=debian-12&upstream=xen`,
    );
    const file = doc.files.find((f) => f.fileName === "./hypervisor");
    assert.equal(file?.checksums.find((c) => c.algorithm === "SHA256")?.checksumValue, m.hypervisor.sha256);
    const comp = (
      cdx as { components: { name: string; type: string; properties?: { name: string; value: string }[] }[] }
    ).components.find((c) => c.name === m.hypervisor.package);
    assert.equal(comp?.type, "operating-system");
    assert.ok(comp?.properties?.some((p) => p.name === "kiln:kind" && p.value === "hypervisor"));
  });

  it("pushed and pulled through a registry, the image keeps its hypervisor, byte for byte", async () => {
    const reg = await startRegistry(join(work, "registry"));
    try {
      const ref = `${reg.host}/kiln/xen-host:1`;
      const push = await runKiln(["push", image, ref, "--json"]);
      assert.equal(push.code, 0, push.stderr);
      const out = join(work, "pulled");
      const pull = await runKiln(["pull", ref, out, "--json"]);
      assert.equal(pull.code, 0, pull.stderr);
      assert.deepEqual(readdirSync(out).sort(), ["hypervisor", "initrd", "kernel", "manifest.json"]);
      for (const f of ["hypervisor", "kernel", "initrd", "manifest.json"])
        assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(image, f))), f);
    } finally {
      await reg.stop();
    }
  });

  it("raw-uefi and deb refuse it, naming what boots it; cloud disks are BIOS disks the launcher reads", async () => {
    for (const format of ["raw-uefi", "deb"]) {
      const r = await runKiln(["image", format, image, "-o", join(work, `x.${format}`)]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /KILN_EIMAGE_UNSUPPORTED: Cannot make "[a-z-]+" from image "xen-host"/);
      assert.match(r.stderr, /hint: .*raw-bios/);
    }
    const bad = await runKiln([
      "image",
      "raw-bios",
      image,
      "-o",
      join(work, "x.img"),
      "--cmdline",
      "a --- b",
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KILN_ECMDLINE_INVALID: .*"---"/);
    const q = await make("qcow2", "host.qcow2", ["--hypervisor-cmdline", "dom0_mem=1536M,max:1536M"]);
    assert.equal(q.details.scheme, "bios");
    const dry = await kiln(["launch", "qemu", "--dry-run", "--json", q.file]);
    assert.equal(dry.code, 0, dry.stderr);
    const cmd: string[] = JSON.parse(dry.stdout).command;
    assert.equal(cmd[cmd.indexOf("-m") + 1], String(1536 + 256));
    assert.equal(cmd[cmd.indexOf("-cpu") + 1], "max,-rdtscp,-smap");
    const uefi = await kiln(["launch", "qemu", "--dry-run", "--uefi", q.file]);
    assert.equal(uefi.code, 2);
    assert.match(uefi.stderr, /KILN_ELAUNCHABLE_NO_UEFI: .*"xen" by multiboot/);
  });

  for (const [format, out] of [
    ["raw-bios", "host.img"],
    ["iso", "host.iso"],
  ] as const) {
    it(`${format}: syslinux's mboot.c32 starts Xen, dom0 comes up and kiln-init says ready`, async (t) => {
      const { file, details } = await make(format, out);
      assert.deepEqual(details.hypervisor, {
        name: "xen",
        cmdline: `${manifest().hypervisor.cmdline} dom0_mem=1024M,max:1024M`,
      });
      // dom0's console is Xen's (hvc0): Xen owns the serial port.
      assert.doesNotMatch(details.cmdline, /console=ttyS0/);
      assert.match(details.cmdline, /^quiet .* console=hvc0$/);
      const name = `xen-${format}`;
      const t0 = Date.now();
      const r = await kiln(["launch", "qemu", "-d", "--name", name, file]);
      assert.equal(r.code, 0, r.stderr);
      try {
        const text = await waitConsole(
          name,
          [/^\(XEN\) Xen version 4\.17/m, /^\(XEN\) Command line: .*dom0_mem=1024M,max:1024M/m, READY],
          300_000,
        );
        t.diagnostic(
          `${format}: from kiln launch -d to kiln-init's ready line in dom0: ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        );
        assert.match(text, format === "iso" ? /^ISOLINUX /m : /^SYSLINUX /m);
        assert.match(text, /^Loading \/xen\.\.\. ok/m);
        const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string; state: string }[];
        assert.equal(ps.find((m) => m.name === name)?.state, "running");
      } finally {
        assert.equal((await kiln(["stop", name])).code, 0);
        assert.equal((await kiln(["rm", name])).code, 0);
      }
      assert.deepEqual(qemuProcesses(file), []);
    });
  }
});
