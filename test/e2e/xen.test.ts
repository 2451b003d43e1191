// Real Xen: Debian's Xen 4.17 nested under QEMU's software emulation, booted from kiln's own xen-host image
// (test/e2e/xenRig.ts), and this checkout's `kiln launch xen` run inside its dom0 against it. Each guest is a
// kiln image baked here for the xen platform (Debian's cloud kernel, or a specialized kernel built for Xen).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN, ROOT, sharedHome } from "../helpers.js";
import { bakeImage, kilnCc } from "./launchFixture.js";
import { type Rig, xenRig } from "./xenRig.js";

const work = mkdtempSync(join(tmpdir(), "kiln-xen-"));
let rig: Rig;
const images: Record<string, string> = {};

function kiln(args: string[]): string {
  return execFileSync(process.execPath, [KILN, ...args], {
    env: { ...process.env, KILN_HOME: sharedHome() },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** A program compiled with the kiln toolchain, baked for Xen with the given kernel. */
function bakeXen(name: string, source: string, kernel: "stock" | "specialized"): string {
  const bin = join(work, "build", name);
  mkdirSync(join(work, "build"), { recursive: true });
  execFileSync(kilnCc(), ["-Os", "-o", bin, source], { stdio: ["ignore", "pipe", "pipe"] });
  const out = join(work, `${name}-${kernel}`);
  kiln(["bake", "xen", out, bin, "--kernel", kernel, "--quiet"]);
  return out;
}

before(async () => {
  const exit7 = join(work, "exit7.c");
  writeFileSync(exit7, '#include <stdio.h>\nint main(void){puts("exit7: leaving with 7");return 7;}\n');
  // The rig boots while the images (and Xen's specialized kernel, minutes the first time) are made.
  const booting = xenRig();
  booting.catch(() => {});
  for (const kernel of ["stock", "specialized"] as const) {
    images[`hello-${kernel}`] = bakeXen("hello", join(ROOT, "examples", "hello", "hello.c"), kernel);
    images[`exit7-${kernel}`] = bakeXen("exit7", exit7, kernel);
  }
  images.probe = bakeImage(work, "probe", "xen");
  images.httpd = bakeImage(work, "httpd", "xen");
  rig = await booting;
});
after(() => rmSync(work, { recursive: true, force: true }));

describe("Xen for real (Xen 4.17 under QEMU, kiln's xen-host image as dom0)", () => {
  it("the Xen host boots and its toolstack answers: xl info", async () => {
    const r = await rig.run(["xl", "info"]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /^xen_major\s+: 4$/m);
    assert.match(r.output, /^xen_minor\s+: 17$/m);
    assert.match(r.output, /^virt_caps\s+:.*\bpv\b.*\bhvm\b/m);
    // dom0 is the generic kernel kiln baked in, named by xen-init-dom0 in the store.
    const list = await rig.run(["xl", "list"]);
    assert.match(list.output, /^Domain-0\s+0\s/m);
  });

  for (const kernel of ["stock", "specialized"] as const) {
    it(`kiln launch xen (${kernel} kernel): hello's line and exit 0; a program's 7 is kiln's 7`, async () => {
      const hello = await rig.kiln(["launch", "xen", images[`hello-${kernel}`]!]);
      assert.equal(hello.code, 0, hello.output);
      assert.match(hello.output, /^Hello from kiln!\r?$/m);
      assert.match(hello.output, /^kiln: exit 0\r?$/m);
      const seven = await rig.kiln(["launch", "xen", images[`exit7-${kernel}`]!]);
      assert.equal(seven.code, 7, seven.output);
      assert.match(seven.output, /exit7: leaving with 7/);
      // Nothing of either guest is left in Xen.
      const list = await rig.run(["xl", "list"]);
      assert.doesNotMatch(list.output, /^kiln-/m);
    });
  }

  it("the launch-time configuration reaches the guest through xenstore, a large one in parts", async () => {
    const big = "x".repeat(5000);
    const r = await rig.kiln([
      "launch",
      "xen",
      "-e",
      "PROBE_EXIT=3",
      "-e",
      `BIG=${big}`,
      "--dry-run",
      images.probe!,
      "--",
      "a b",
      'c"\\d',
    ]);
    assert.equal(r.code, 0, r.output);
    // Nothing about it on the kernel command line: it travels in xenstore.
    assert.doesNotMatch(r.output, /kiln\.config=/);
    const run = await rig.kiln([
      "launch",
      "xen",
      "-e",
      "PROBE_EXIT=3",
      "-e",
      `BIG=${big}`,
      images.probe!,
      "--",
      "a b",
      'c"\\d',
    ]);
    assert.equal(run.code, 3, run.output);
    assert.match(run.output, /probe: argv\[1\] = a b/);
    // A backslash survives: the parts are written raw (xenstore-write -R).
    assert.match(run.output, /probe: argv\[2\] = c"\\d/);
    assert.match(run.output, /probe: BIG has 5000 bytes/);
  });

  it("httpd with a disk (blkback) and a vif on a bridge answers from dom0; -d, ps, logs, stop, rm", async () => {
    // The bridge dom0 serves the guest from, with an address of its own.
    const setup = await rig.run([
      "sh",
      "-c",
      "ip link show xenbr0 >/dev/null 2>&1 || { ip link add xenbr0 type bridge && ip addr add 10.0.3.1/24 dev xenbr0 && ip link set xenbr0 up; }",
    ]);
    assert.equal(setup.code, 0, setup.output);
    // The site lives on an ext4 disk the guest mounts.
    const site = join(work, "site");
    mkdirSync(site);
    writeFileSync(join(site, "index.html"), "served from a Xen disk\n");
    const disk = join(work, "www.img");
    execFileSync("mkfs.ext4", ["-q", "-F", "-d", site, disk, "8M"]);
    chmodSync(disk, 0o644);
    const name = "xen-web";
    const start = await rig.kiln([
      "launch",
      "xen",
      "-d",
      "--name",
      name,
      "--net",
      "bridge:xenbr0,ip=10.0.3.2/24",
      "-b",
      `${disk},/srv/www`,
      images.httpd!,
      "--",
      "-p",
      "8080",
      "-d",
      "/srv/www",
    ]);
    assert.equal(start.code, 0, start.output);
    try {
      let page = "";
      for (let i = 0; i < 60 && !page.includes("served from a Xen disk"); i++) {
        page = (await rig.run(["curl", "-s", "-m", "5", "http://10.0.3.2:8080/"])).output;
      }
      assert.match(page, /served from a Xen disk/);
      const health = await rig.run(["curl", "-s", "-m", "5", "http://10.0.3.2:8080/health"]);
      assert.equal(health.code, 0, health.output);
      const ps = JSON.parse((await rig.kiln(["ps", "--json"])).output) as { name: string; state: string }[];
      assert.equal(ps.find((m) => m.name === name)?.state, "running");
      const logs = await rig.kiln(["logs", name]);
      assert.match(logs.output, /httpd: serving \/srv\/www on port 8080/);
    } finally {
      const stop = await rig.kiln(["stop", name]);
      assert.equal(stop.code, 0, stop.output);
    }
    const ps = JSON.parse((await rig.kiln(["ps", "--json"])).output) as { name: string; state: string }[];
    assert.equal(ps.find((m) => m.name === name)?.state, "exited");
    assert.doesNotMatch((await rig.run(["xl", "list"])).output, new RegExp(`^kiln-${name}\\s`, "m"));
    assert.equal((await rig.kiln(["rm", name])).code, 0);
  });

  it("the image's .deb installs, and the xl configuration it ships boots the guest", async () => {
    const deb = join(work, "hello.deb");
    kiln(["image", "deb", images["hello-stock"]!, "-o", deb, "--name", "hello"]);
    const root = join(work, "dpkg-root");
    mkdirSync(join(root, "var", "lib", "dpkg", "updates"), { recursive: true });
    writeFileSync(join(root, "var", "lib", "dpkg", "status"), "");
    // dpkg itself installs it, into a scratch root: the test does not change the machine it runs on.
    const install = await rig.run(["dpkg", "--root", root, "--force-not-root", "--force-depends", "-i", deb]);
    assert.equal(install.code, 0, install.output);
    const cfgPath = (await rig.run(["sh", "-c", `ls ${root}/usr/lib/kiln/images/*/xen.cfg`])).output.trim();
    // The configuration names the installed files by their absolute paths; here those sit under the root.
    const cfg = readFileSync(cfgPath, "utf8").replaceAll('"/usr/lib/kiln/', `"${root}/usr/lib/kiln/`);
    const local = join(work, "installed-xen.cfg");
    writeFileSync(local, cfg);
    const run = await rig.run(["xl", "create", "-c", local], { timeoutS: 300 });
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /Hello from kiln!/);
    assert.match(run.output, /kiln: exit 0/);
  });

  it("a machine with no Xen frontends for its disks is refused before xl runs", async () => {
    const qemuImage = bakeImage(work, "hello");
    const disk = join(work, "empty.img");
    writeFileSync(disk, Buffer.alloc(1 << 20));
    const r = await rig.kiln(["launch", "xen", "-b", `${disk},/data`, qemuImage]);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /KILN_EIMAGE_NO_DRIVER/);
    assert.doesNotMatch((await rig.run(["xl", "list"])).output, /^kiln-/m);
  });
});
