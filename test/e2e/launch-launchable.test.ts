// `kiln launch qemu FILE` boots what `kiln image` wrote through its firmware (SeaBIOS, or OVMF for UEFI),
// as a cloud or a PC would, and still reports the program's exit status, runs detached and takes extra disks.
// Four real boots: raw-bios, iso (detached), raw-uefi, qcow2 with --uefi.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT, runKiln, sharedHome } from "../helpers.js";
import { bakeImage, kilnCc, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-launchable-"));
// Machine state of its own (so `kiln ps` lists only these machines); images come from the shared home.
const home = join(work, "home");
let hello = "";
let probe = "";

before(() => {
  hello = bakeImage(work, "hello");
  // The probe, baked with its settings: a launchable takes no run-time configuration.
  const program = join(work, "build", "probe");
  execFileSync(kilnCc(), ["-Os", "-o", program, join(ROOT, "test", "fixtures", "launch", "probe.c")]);
  const config = join(work, "probe.json");
  writeFileSync(config, JSON.stringify({ v: 1, env: { PROBE_EXIT: "7", PROBE_CAT: "/dev/vdb" } }));
  probe = join(work, "probe");
  execFileSync(
    process.execPath,
    [
      join(ROOT, "bin", "kiln.js"),
      "bake",
      "qemu",
      probe,
      program,
      "--config",
      config,
      "--kernel",
      "stock",
      "--quiet",
    ],
    {
      env: { ...process.env, KILN_HOME: sharedHome() },
    },
  );
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => runKiln(args, { home, timeoutMs: 180_000 });

async function make(format: string, image: string, out: string, extra: string[] = []): Promise<string> {
  const file = join(work, out);
  const r = await runKiln(["image", format, image, "-o", file, "--quiet", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return file;
}

describe("kiln launch qemu LAUNCHABLE", () => {
  it("raw-bios: SeaBIOS boots it, an extra disk reaches the program, its exit status 7 is kiln's", async () => {
    const file = await make("raw-bios", probe, "probe-bios.img");
    const disk = join(work, "data.img");
    writeFileSync(disk, Buffer.concat([Buffer.from("launchable disk\n"), Buffer.alloc(1 << 20)]));
    const r = await kiln(["launch", "qemu", "--rm", "-b", disk, file]);
    assert.equal(r.code, 7, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /SYSLINUX/);
    assert.match(r.stdout, /^probe: \/dev\/vdb = launchable disk\r?$/m);
    assert.match(r.stdout, /^kiln: exit 7\r?$/m);
  });

  it("iso: detached, kiln ps follows it to its exit and kiln logs shows its console", async () => {
    const file = await make("iso", hello, "hello.iso");
    const r = await kiln(["launch", "qemu", "-d", "--name", "iso", file]);
    assert.equal(r.code, 0, r.stderr);
    let m: { state: string; exitStatus?: number; reason?: string; image: string } | undefined;
    for (let i = 0; i < 600; i++) {
      const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as (typeof m & { name: string })[];
      m = ps.find((x) => x?.name === "iso");
      if (m?.state === "exited") break;
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.deepEqual(
      { state: m?.state, exitStatus: m?.exitStatus, reason: m?.reason, image: m?.image },
      { state: "exited", exitStatus: 0, reason: "exited", image: file },
    );
    const logs = await kiln(["logs", "iso"]);
    assert.match(logs.stdout, /^Hello from kiln!\r?$/m);
    assert.equal((await kiln(["rm", "iso"])).code, 0);
  });

  it("raw-uefi: OVMF on q35 boots the unified kernel image (memory raised to what OVMF needs)", async () => {
    const file = await make("raw-uefi", hello, "hello-uefi.img");
    const dry = await kiln(["launch", "qemu", "--dry-run", "--json", "-M", "128", file]);
    const cmd = (JSON.parse(dry.stdout) as { command: string[] }).command;
    assert.equal(cmd[cmd.indexOf("-M") + 1], "q35");
    assert.ok(Number(cmd[cmd.indexOf("-m") + 1]) >= 192, cmd.join(" "));
    assert.ok(!cmd.includes("-kernel"));
    const r = await kiln(["launch", "qemu", "--rm", "-M", "128", file]);
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /^Hello from kiln!\r?$/m);
  });

  it("qcow2 (BIOS and UEFI): --uefi boots it with OVMF; made with --net dhcp, eth0 leases its address", async () => {
    const file = await make("qcow2", hello, "hello.qcow2", ["--net", "dhcp"]);
    const dry = async (extra: string[]) =>
      (
        JSON.parse((await kiln(["launch", "qemu", "--dry-run", "--json", ...extra, file])).stdout) as {
          command: string[];
        }
      ).command;
    assert.ok(!(await dry([])).includes("-bios"), "BIOS by default");
    // A NIC on QEMU's user network, whose DHCP server hands out 10.0.2.15.
    const r = await kiln(["launch", "qemu", "--rm", "--uefi", "--net", "user", file]);
    assert.equal(r.code, 0, `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.match(r.stdout, /^Hello from kiln!\r?$/m);
    assert.match(r.stdout, /^kiln: net eth0 10\.0\.2\.15\/24 up \(dhcp\)\r?$/m);
    assert.doesNotMatch(r.stdout, /SYSLINUX/);
    assert.match(
      (await dry(["--uefi"])).join(" "),
      /-M q35 -bios \S+ -drive file=\S+,if=none,id=boot,format=qcow2\S* -device virtio-blk-pci,drive=boot,bootindex=0/,
    );
  });

  it("refuses what cannot reach a firmware-booted guest, and files that are not launchables", async () => {
    const file = join(work, "probe-bios.img");
    const env = await kiln(["launch", "qemu", "-e", "PROBE_EXIT=3", file]);
    assert.equal(env.code, 2);
    assert.match(env.stderr, /KILN_ELAUNCHABLE_CONFIG: Cannot pass environment "PROBE_EXIT=3"/);
    assert.match(env.stderr, /hint: .*kiln bake --config/);
    const args = await kiln(["launch", "qemu", file, "--", "x"]);
    assert.match(args.stderr, /KILN_ELAUNCHABLE_CONFIG: Cannot pass program arguments "x"/);
    const mount = await kiln(["launch", "qemu", "-b", `${join(work, "data.img")},/data`, file]);
    assert.match(mount.stderr, /KILN_ELAUNCHABLE_CONFIG: .*mount point/);
    const uefi = await kiln(["launch", "qemu", "--uefi", file]);
    assert.match(uefi.stderr, /KILN_ELAUNCHABLE_NO_UEFI/);
    const xen = await kiln(["launch", "xen", "--dry-run", file]);
    assert.match(xen.stderr, /KILN_ELAUNCHABLE_BACKEND/);
    const notOne = join(work, "notes.txt");
    writeFileSync(notOne, "not a disk\n");
    const unknown = await kiln(["launch", "qemu", notOne]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /KILN_ELAUNCHABLE_UNKNOWN: Cannot tell how to boot ".*notes\.txt"/);
    // Nothing was started or left behind by the refusals.
    assert.deepEqual(JSON.parse((await kiln(["ps", "--json"])).stdout), []);
    assert.deepEqual(qemuProcesses(work), []);
  });
});
