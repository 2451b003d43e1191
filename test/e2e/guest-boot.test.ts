// kiln-init booted for real: Debian's stock cloud kernel in QEMU (microvm; KVM when it boots Linux here,
// else TCG), kiln-init as /init, the static musl test program guest/test/probe.c, and the boot
// configuration from all three sources. Until this test moves to the real bake, makeInitrd() below is the
// one place that makes an image.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureKilnInit } from "../../src/bake/kilnInit.js";
import { chooseAccel } from "../../src/launch/accel.js";
import { consoleFacts } from "../../src/launch/consoleWatch.js";
import { ROOT } from "../helpers.js";
import { DhcpServer } from "./dhcpServer.js";

const QEMU = "qemu-system-x86_64";
const MUSL_CC = process.env.KILN_TEST_MUSL_CC ?? "musl-gcc";
const KERNEL_CACHE = join(ROOT, ".kiln-test", "kernel");
const APPEND =
  "console=ttyS0 quiet panic=-1 reboot=t tsc_early_khz=2096000 no_timer_check tsc=reliable cryptomgr.notests=1";
// virtio over MMIO for microvm, in dependency order (modinfo -F depends).
const MODULES = [
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_mmio.ko",
  "kernel/net/core/failover.ko",
  "kernel/drivers/net/net_failover.ko",
  "kernel/drivers/net/virtio_net.ko",
  "kernel/drivers/block/virtio_blk.ko",
];

interface StockKernel {
  vmlinuz: string;
  /** lib/modules/<release> */
  modules: string;
}

/** Debian's current linux-image-*-cloud-amd64, downloaded and unpacked once into .kiln-test/kernel/. */
function stockKernel(): StockKernel {
  const find = (): StockKernel | undefined => {
    const root = join(KERNEL_CACHE, "unpacked");
    if (!existsSync(join(root, "boot"))) return undefined;
    const vmlinuz = readdirSync(join(root, "boot")).find((n) => n.startsWith("vmlinuz-"));
    if (!vmlinuz) return undefined;
    const release = vmlinuz.slice("vmlinuz-".length);
    return { vmlinuz: join(root, "boot", vmlinuz), modules: join(root, "lib", "modules", release) };
  };
  const have = find();
  if (have) return have;
  mkdirSync(KERNEL_CACHE, { recursive: true });
  const deps = execFileSync("apt-cache", ["depends", "linux-image-cloud-amd64"], { encoding: "utf8" });
  const pkg = /Depends: (linux-image-\S+)/.exec(deps)?.[1];
  assert.ok(pkg, `apt-cache names no kernel package:\n${deps}`);
  const dl = mkdtempSync(join(KERNEL_CACHE, ".dl-"));
  execFileSync("apt-get", ["download", "-q", pkg], { cwd: dl, stdio: "ignore" });
  const deb = readdirSync(dl).find((n) => n.endsWith(".deb"));
  assert.ok(deb, "apt-get download wrote no .deb");
  execFileSync("dpkg-deb", ["-x", join(dl, deb), join(dl, "unpacked")]);
  rmSync(join(KERNEL_CACHE, "unpacked"), { recursive: true, force: true });
  renameSync(join(dl, "unpacked"), join(KERNEL_CACHE, "unpacked"));
  rmSync(dl, { recursive: true, force: true });
  return find()!;
}

interface ImageFile {
  path: string;
  /** A host file to copy, or the bytes themselves. */
  from?: string;
  data?: string;
  mode?: number;
  dir?: boolean;
}

/**
 * Write an initrd (cpio newc, by Debian's cpio) holding `files`, plus, when given, a second archive
 * appended after it holding /kiln/config.json, as the launcher appends one for large configurations.
 */
function makeInitrd(out: string, files: ImageFile[], appendedConfig?: string): string {
  const archive = (stage: string, list: ImageFile[], to: string) => {
    const names = new Set<string>(["."]);
    for (const f of list) {
      const rel = `.${f.path}`;
      for (let d = dirname(rel); d !== "."; d = dirname(d)) names.add(d);
      names.add(rel);
      const dst = join(stage, f.path);
      if (f.dir) {
        mkdirSync(dst, { recursive: true, mode: f.mode ?? 0o755 });
        continue;
      }
      mkdirSync(dirname(dst), { recursive: true });
      if (f.from) copyFileSync(f.from, dst);
      else writeFileSync(dst, f.data ?? "");
      execFileSync("chmod", [(f.mode ?? 0o644).toString(8), dst]);
    }
    for (const n of names) if (!existsSync(join(stage, n))) mkdirSync(join(stage, n), { recursive: true });
    const list0 = [...names].sort().join("\n");
    execFileSync("cpio", ["-o", "-H", "newc", "--quiet", "--reproducible", "--owner=0:0", "-O", to], {
      cwd: stage,
      input: `${list0}\n`,
    });
  };
  const stage = mkdtempSync(join(dirname(out), "stage-"));
  archive(stage, files, out);
  if (appendedConfig !== undefined) {
    const stage2 = mkdtempSync(join(dirname(out), "stage-"));
    archive(stage2, [{ path: "/kiln/config.json", data: appendedConfig }], `${out}.seg`);
    execFileSync("sh", ["-c", 'cat "$1" >> "$2"', "sh", `${out}.seg`, out]);
    rmSync(stage2, { recursive: true, force: true });
  }
  rmSync(stage, { recursive: true, force: true });
  return out;
}

interface Boot {
  status: number;
  out: string;
}

/** Boot and collect the console until QEMU exits (or, with `until`, until a line appears; then stop it). */
function boot(
  kernel: string,
  initrd: string,
  accel: string,
  opts: { machine?: string; append?: string; qemuArgs?: string[]; until?: RegExp; timeoutMs?: number } = {},
): Promise<Boot> {
  const args = [
    "-M",
    opts.machine ?? "microvm",
    "-accel",
    accel,
    "-m",
    "128",
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-serial",
    "stdio",
    "-no-reboot",
    "-kernel",
    kernel,
    "-initrd",
    initrd,
    "-append",
    `${APPEND}${opts.append ? ` ${opts.append}` : ""}`,
    ...(opts.qemuArgs ?? []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(QEMU, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
    const onData = (b: string) => {
      out += b.replace(/\r/g, "");
      if (opts.until?.test(out)) child.kill("SIGTERM");
    };
    // Decoded by the streams, so that a character split across two chunks stays whole.
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", onData);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : -1), out });
    });
  });
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: kiln-init's own substitution, not a template
const XEN_TARGET = "${xen_target}";
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const lines = (out: string) => out.split("\n");

describe("kiln-init boots in QEMU with Debian's cloud kernel", () => {
  let dir: string;
  let kernel: StockKernel;
  let init: string;
  let probe: string;
  let accel: string;
  let base: ImageFile[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "kiln-guest-boot-"));
    kernel = stockKernel();
    init = (await ensureKilnInit({ cc: MUSL_CC, cacheDir: join(ROOT, ".kiln-test", "kiln-init") })).path;
    probe = join(dir, "probe");
    execFileSync(MUSL_CC, ["-static", "-Os", "-s", "-o", probe, join(ROOT, "guest", "test", "probe.c")]);
    accel = (await chooseAccel("auto", QEMU, kernel.vmlinuz)).accel;
    base = [
      { path: "/init", from: init, mode: 0o755 },
      { path: "/bin/probe", from: probe, mode: 0o755 },
      { path: "/tmp", dir: true, mode: 0o1777 },
    ];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const image = (name: string, config: unknown, extra: ImageFile[] = [], appended?: string) =>
    makeInitrd(
      join(dir, `${name}.initrd`),
      [...base, { path: "/kiln/image.json", data: JSON.stringify(config) }, ...extra],
      appended,
    );

  it("runs the program, prints its status and powers off: exit 0", async () => {
    const img = image("hello", {
      v: 1,
      rc: [{ bin: "/bin/probe", argv: ["probe", "say", "hello from kiln"] }],
    });
    const r = await boot(kernel.vmlinuz, img, accel);
    const l = lines(r.out);
    const hello = l.indexOf("hello from kiln");
    const exit = l.indexOf("kiln: exit 0");
    assert.ok(hello >= 0 && exit > hello, `output:\n${r.out}`);
    assert.equal(r.status, 0, "QEMU exits by itself (ACPI power-off)");
    assert.equal(consoleFacts(r.out).exitStatus, 0, "the launcher's console parser reads the status");
  });

  it("a program's last output reaches the console before its status, however much was still in the UART", async () => {
    const img = image("flood", { v: 1, rc: [{ bin: "/bin/probe", argv: ["probe", "flood", "400"] }] });
    const r = await boot(kernel.vmlinuz, img, accel);
    const l = lines(r.out);
    const flood = l.filter((x) => x.startsWith("flood: "));
    assert.equal(flood.length, 400, r.out.slice(-2000));
    assert.equal(flood[399], "flood: 00399 0123456789abcdef0123456789abcdef0123456789abcdef");
    assert.ok(l.indexOf("kiln: exit 0") > l.indexOf(flood[399]!), r.out.slice(-2000));
  });

  it("exit 7, config from kiln.config on the command line, status through isa-debug-exit", async () => {
    // The baked config says exit 0; the command line replaces rc.
    const img = image("hello7", { v: 1, rc: [{ bin: "/bin/probe", argv: ["probe", "say", "baked"] }] });
    const r = await boot(kernel.vmlinuz, img, accel, {
      append: `kiln.config=${b64({ v: 1, rc: [{ bin: "/bin/probe", argv: ["probe", "say", "from cmdline", "7"] }] })}`,
      qemuArgs: ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x01"],
    });
    assert.ok(lines(r.out).includes("from cmdline"), r.out);
    assert.ok(!lines(r.out).includes("baked"), r.out);
    assert.ok(lines(r.out).includes("kiln: exit 7"), r.out);
    assert.equal(r.status, (7 << 1) | 1, "QEMU's exit status carries 7");
  });

  it("a malformed config: the error names source and key, status 125, the program never runs", async () => {
    const img = image("bad", { v: 1, rc: [{ bin: "/bin/probe", argv: ["probe", "say", "must not run"] }] });
    const r = await boot(kernel.vmlinuz, img, accel, {
      append: `kiln.config=${b64({ v: 1, rc: [{ bin: "bin/probe" }] })}`,
    });
    assert.ok(
      lines(r.out).includes(
        'kiln: config error: kiln.config: key "rc[0].bin": "bin/probe" is not an absolute path (it must start with "/")',
      ),
      r.out,
    );
    assert.ok(lines(r.out).includes("kiln: exit 125"), r.out);
    assert.ok(!r.out.includes("must not run"), r.out);
    const facts = consoleFacts(r.out);
    assert.equal(facts.exitStatus, 125);
    assert.match(facts.configError ?? "", /^kiln\.config: key "rc\[0\]\.bin"/);
  });

  it("invalid JSON in an appended /kiln/config.json segment: 125", async () => {
    const img = image(
      "badseg",
      { v: 1, rc: [{ bin: "/bin/probe" }] },
      [],
      '{"v":1,"rc":[{"bin":"/bin/probe",]}',
    );
    const r = await boot(kernel.vmlinuz, img, accel);
    assert.ok(
      lines(r.out).includes(
        'kiln: config error: /kiln/config.json: key "rc[0]": invalid JSON at byte 33: expected a string key',
      ),
      r.out,
    );
    assert.ok(lines(r.out).includes("kiln: exit 125"), r.out);
  });

  it("a program killed by a signal: 128+15; without ACPI the machine still ends (reboot=t, -no-reboot)", async () => {
    const img = image("signal", { v: 1, rc: [{ bin: "/bin/probe", argv: ["probe", "signal"] }] });
    const r = await boot(kernel.vmlinuz, img, accel, { machine: "microvm,acpi=off", timeoutMs: 60_000 });
    assert.ok(lines(r.out).includes("kiln: exit 143"), r.out);
    assert.equal(r.status, 0, "QEMU ended by itself, not by the test's timeout");
  });

  it("a program that cannot be run: the error and 127", async () => {
    const img = image("noexec", { v: 1, rc: [{ bin: "/bin/nothing-here" }] });
    const r = await boot(kernel.vmlinuz, img, accel);
    assert.ok(
      lines(r.out).includes('kiln: error: cannot run "/bin/nothing-here": No such file or directory'),
      r.out,
    );
    assert.ok(lines(r.out).includes("kiln: exit 127"), r.out);
  });

  /** Boot an image whose boot must stop before main (which would print "must not run"): the line, then 126. */
  const stopsBoot = async (
    name: string,
    config: { rc?: object[]; blk?: object[] },
    error: string,
    opts: { extra?: ImageFile[]; append?: string } = {},
  ) => {
    const main = { bin: "/bin/probe", argv: ["probe", "say", "must not run"] };
    const img = image(name, { v: 1, ...config, rc: [...(config.rc ?? []), main] }, opts.extra);
    const r = await boot(kernel.vmlinuz, img, accel, { append: opts.append });
    assert.ok(lines(r.out).includes(error), r.out);
    assert.ok(lines(r.out).includes("kiln: exit 126"), r.out);
    assert.ok(!r.out.includes("must not run"), r.out);
  };

  it("a module that cannot be loaded is an init failure: 126", async () => {
    await stopsBoot("nomod", {}, 'kiln: error: module "/lib/modules/missing.ko": No such file or directory', {
      extra: [{ path: "/kiln/modules", data: "/lib/modules/missing.ko\n" }],
    });
  });

  it("a share (9p tag) the kernel cannot mount is an init failure, reported without waiting for /dev", async () => {
    // Debian's cloud kernel has no 9p (CONFIG_NET_9P is off): the mount fails with ENODEV at once.
    await stopsBoot(
      "share",
      { blk: [{ dev: "share0", fs: "9p", mount: "/mnt/share" }] },
      'kiln: error: cannot mount tag "share0" (9p) on "/mnt/share": No such device',
    );
  });

  it("rc in array order: setup runs to completion, a bg program with ready is awaited, main starts last", async () => {
    // Each entry appends its name to /tmp/order after a pause; without the waits, the later, quicker entries
    // would come first. Main stands first in the array and still starts last.
    const note = (text: string, ms: number) => ["probe", "note", "/tmp/order", text, String(ms), "0"];
    const img = image("order", {
      v: 1,
      rc: [
        { bin: "/bin/probe", argv: ["probe", "cat", "order", "/tmp/order"] },
        { bin: "/bin/probe", argv: note("setup-1", 400), mode: "setup" },
        {
          bin: "/bin/probe",
          argv: ["probe", "daemon", "/tmp/order", "daemon", "400", "/tmp/daemon.ready"],
          mode: "bg",
          ready: "/tmp/daemon.ready",
        },
        { bin: "/bin/probe", argv: note("setup-2", 0), mode: "setup" },
      ],
    });
    const r = await boot(kernel.vmlinuz, img, accel);
    const order = lines(r.out).filter((x) => x.startsWith("order: "));
    assert.deepEqual(order, ["order: setup-1", "order: daemon", "order: setup-2"], r.out);
    assert.ok(lines(r.out).includes("kiln: exit 0"), r.out);
  });

  it("a setup program that fails stops the boot: its path and status, 126, and main never runs", async () => {
    const setup = (argv: string[]) => ({ rc: [{ bin: "/bin/probe", argv, mode: "setup" }] });
    await stopsBoot(
      "setup3",
      setup(["probe", "say", "setting up", "3"]),
      "kiln: error: setup /bin/probe exited with status 3",
    );
    await stopsBoot(
      "setupsig",
      setup(["probe", "signal"]),
      "kiln: error: setup /bin/probe was killed by signal 15",
    );
  });

  it("bg ready: a program that dies first fails at once with its status; a path that never comes, at the timeout", async () => {
    const waiting = (argv: string[], timeoutMs?: number) => ({
      rc: [{ bin: "/bin/probe", argv, mode: "bg", ready: "/run/never", ready_timeout_ms: timeoutMs }],
    });
    await stopsBoot(
      "readydied",
      waiting(["probe", "say", "dying", "4"]),
      "kiln: error: bg /bin/probe exited with status 4 before /run/never appeared",
    );
    const started = Date.now();
    await stopsBoot(
      "readylate",
      waiting(["probe", "daemon", "/tmp/log", "up", "0", "/tmp/other"], 1500),
      "kiln: error: bg /bin/probe: /run/never did not appear within 1500 ms",
    );
    assert.ok(Date.now() - started >= 1500, "kiln-init waited for the path");
  });

  it("pseudo file systems (tmpfs, proc, xenfs) mount their source name, without waiting for a device", async () => {
    const img = image("pseudo", {
      v: 1,
      rc: [{ bin: "/bin/probe", argv: ["probe", "main", "/"] }],
      blk: [
        { dev: "scratch", fs: "tmpfs", mount: "/scratch" },
        { dev: "proc", fs: "proc", mount: "/mnt/proc", ro: true },
      ],
    });
    const r = await boot(kernel.vmlinuz, img, accel);
    const l = lines(r.out);
    assert.ok(
      l.some((x) => /^mounts: scratch \/scratch tmpfs rw[,\s]/.test(x)),
      r.out,
    );
    assert.ok(
      l.some((x) => /^mounts: proc \/mnt\/proc proc ro[,\s]/.test(x)),
      r.out,
    );
    assert.ok(l.includes("kiln: exit 0"), r.out);
    // Outside Xen (and without its module) xenfs is unknown to the kernel: the mount itself fails, at once,
    // instead of a 3 s wait for a /dev/xenfs that cannot come. (/proc/xen exists only in a Xen domain.)
    await stopsBoot(
      "xenfs",
      { blk: [{ dev: "xenfs", fs: "xenfs", mount: "/mnt/xen" }] },
      'kiln: error: cannot mount "xenfs" (xenfs) on "/mnt/xen": No such device',
    );
  });

  it("kiln.xs=1 outside Xen: no xenbus device is a clear init failure, not a hang", async () => {
    await stopsBoot(
      "xs",
      {},
      "kiln: error: kiln.xs=1 but /dev/xen/xenbus did not appear within 3 s (not a Xen guest?)",
      {
        append: "kiln.xs=1",
      },
    );
  });

  it(`a stub domain's keys outside Xen: argv_xen_dm and ${XEN_TARGET} fail clearly, naming the entry`, async () => {
    await stopsBoot(
      "xendm",
      { rc: [{ bin: "/bin/probe", argv: ["probe", "say", "dm"], mode: "bg", argv_xen_dm: true }] },
      'kiln: error: rc[0] has "argv_xen_dm" but /dev/xen/xenbus did not appear within 3 s (not a Xen guest?)',
    );
    await stopsBoot(
      "xentarget",
      {
        rc: [
          { bin: "/bin/probe", argv: ["probe", "say", `device-model/${XEN_TARGET}/qmp-vchan`], mode: "bg" },
        ],
      },
      `kiln: error: rc[0].argv[2] uses ${XEN_TARGET} but /dev/xen/xenbus did not appear within 3 s (not a Xen guest?)`,
    );
  });

  it("no rc: a kernel-plane image configures the network and waits", async () => {
    const img = image("plane", { v: 1 });
    const r = await boot(kernel.vmlinuz, img, accel, { until: /kiln: ready \(no program\)\n/ });
    assert.ok(lines(r.out).includes("kiln: ready (no program)"), r.out);
    assert.ok(!/kiln: exit/.test(r.out), r.out);
    assert.equal(consoleFacts(r.out).ready, true);
  });

  it("dhcp: QEMU's DHCP server gives the address, netmask, router and DNS; an MTU given in the config wins", async () => {
    const img = image(
      "dhcp",
      {
        v: 1,
        rc: [{ bin: "/bin/probe", argv: ["probe", "main", "/"] }],
        net: [{ if: "eth0", dhcp: true, mtu: 1400 }],
      },
      [
        { path: "/kiln/modules", data: MODULES.map((m) => `/lib/modules/${m}\n`).join("") },
        ...MODULES.map((m) => ({ path: `/lib/modules/${m}`, from: join(kernel.modules, m) })),
      ],
    );
    const r = await boot(kernel.vmlinuz, img, accel, {
      qemuArgs: [
        "-netdev",
        "user,id=n0,net=10.9.0.0/16,dhcpstart=10.9.0.40",
        "-device",
        "virtio-net-device,netdev=n0",
      ],
    });
    const l = lines(r.out);
    const has = (s: string) => assert.ok(l.includes(s), `missing ${JSON.stringify(s)} in:\n${r.out}`);
    has("kiln: net eth0 10.9.0.40/16 up (dhcp)");
    has("net: eth0 10.9.0.40 mask 255.255.0.0 mtu 1400 up");
    assert.ok(
      l.some((x) => /^route: eth0\t00000000\t0202090A\t0003\t/.test(x)),
      r.out,
    );
    has("resolv: nameserver 10.9.2.3");
    has("kiln: exit 0");
  });

  it("dhcp renewal: at T1 the guest asks its server directly; a NAK makes it start over and take the new address", async () => {
    let renewals = 0;
    // Leases of 6 s renewed at 2 s: the first renewal is acknowledged, the second refused.
    const server = new DhcpServer("10.5.0.1", (m) => {
      if (m.type === 1)
        return { type: "offer", addr: renewals >= 2 ? "10.5.0.21" : "10.5.0.20", leaseS: 6, renewS: 2 };
      if (m.type !== 3) return undefined;
      if (m.ciaddr === "0.0.0.0") return { type: "ack", addr: m.requested, leaseS: 6, renewS: 2 };
      renewals++;
      return renewals === 2 ? { type: "nak" } : { type: "ack", addr: m.ciaddr, leaseS: 6, renewS: 2 };
    });
    const qemuArgs = await server.start();
    try {
      const img = image(
        "renew",
        {
          v: 1,
          // The probe waits ~10 s for a file that never comes, then prints the interfaces.
          rc: [{ bin: "/bin/probe", argv: ["probe", "main", "/never"] }],
          net: [{ if: "eth0", dhcp: true }],
        },
        [
          { path: "/kiln/modules", data: MODULES.map((m) => `/lib/modules/${m}\n`).join("") },
          ...MODULES.map((m) => ({ path: `/lib/modules/${m}`, from: join(kernel.modules, m) })),
        ],
      );
      const r = await boot(kernel.vmlinuz, img, accel, { qemuArgs });
      const l = lines(r.out);
      const has = (s: string) => assert.ok(l.includes(s), `missing ${JSON.stringify(s)} in:\n${r.out}`);
      has("kiln: net eth0 10.5.0.20/24 up (dhcp)");
      has("kiln: net eth0 10.5.0.21 (dhcp: new lease)");
      has("net: eth0 10.5.0.21 mask 255.255.255.0 mtu 1500 up");
      has("kiln: exit 0");
      const first = server.seen.find((m) => m.type === 3 && m.ciaddr === "0.0.0.0");
      const renew = server.seen.filter((m) => m.type === 3 && m.ciaddr === "10.5.0.20");
      assert.ok(first && renew.length >= 2, JSON.stringify(server.seen));
      // Renewals go to the server itself, not to everyone, and not before T1.
      assert.deepEqual(
        renew.map((m) => m.dst),
        renew.map(() => "10.5.0.1"),
      );
      assert.ok(renew[0]!.at - first.at >= 1500, JSON.stringify(server.seen));
      // After the NAK: DISCOVER and REQUEST again, broadcast, for the new address.
      const after = server.seen.slice(server.seen.indexOf(renew[1]!) + 1);
      assert.ok(
        after.some((m) => m.type === 3 && m.requested === "10.5.0.21" && m.dst === "255.255.255.255"),
        JSON.stringify(server.seen),
      );
    } finally {
      server.stop();
    }
  });

  it("dhcp with no server on the network: a clear init failure, not a hang", async () => {
    const img = image(
      "nodhcp",
      {
        v: 1,
        rc: [{ bin: "/bin/probe", argv: ["probe", "say", "must not run"] }],
        net: [{ if: "eth0", dhcp: true }],
      },
      [
        { path: "/kiln/modules", data: MODULES.map((m) => `/lib/modules/${m}\n`).join("") },
        ...MODULES.map((m) => ({ path: `/lib/modules/${m}`, from: join(kernel.modules, m) })),
      ],
    );
    // A socket netdev with nobody at the other end: frames go nowhere.
    const r = await boot(kernel.vmlinuz, img, accel, {
      qemuArgs: ["-netdev", "socket,id=n0,mcast=230.0.0.1:1234", "-device", "virtio-net-device,netdev=n0"],
      timeoutMs: 120_000,
    });
    assert.ok(
      lines(r.out).includes(
        'kiln: error: interface "eth0": no DHCP lease within 30 s (is a DHCP server on its network?)',
      ),
      r.out,
    );
    assert.ok(lines(r.out).includes("kiln: exit 126"), r.out);
  });

  it("bg + main, env/hostname/cwd merged from three sources, modules, network, routes, sysctl, a disk", async () => {
    const disk = join(dir, "disk.img");
    const content = join(dir, "disk");
    mkdirSync(content);
    writeFileSync(join(content, "hello.txt"), "hello from the disk\n");
    execFileSync("mkfs.ext4", ["-q", "-F", "-E", "root_owner=0:0", "-d", content, disk, "8M"]);
    const img = image(
      "full",
      {
        v: 1,
        hostname: "web",
        env: { PORT: "8080", GREETING: "caf\u00e9", EXTRA: "baked" },
        cwd: "/srv",
        rc: [
          { bin: "/bin/probe", argv: ["probe", "bg", "/tmp/bg-ran"], mode: "bg" },
          { bin: "/bin/probe", argv: ["probe", "main", "/tmp/bg-ran"] },
        ],
        net: [{ if: "eth0", addr: "10.0.2.15/24", gw: "10.0.2.2", dns: ["10.0.2.3"], mtu: 1400 }],
        routes: [{ dst: "10.1.0.0/16", via: "10.0.2.2" }],
        sysctl: { "net.ipv4.ip_forward": "1" },
        blk: [{ dev: "vda", fs: "ext4", mount: "/data", ro: true }],
      },
      [
        { path: "/srv", dir: true },
        { path: "/kiln/modules", data: MODULES.map((m) => `/lib/modules/${m}\n`).join("") },
        ...MODULES.map((m) => ({ path: `/lib/modules/${m}`, from: join(kernel.modules, m) })),
      ],
      JSON.stringify({ v: 1, hostname: "web2", env: { EXTRA: "segment" } }),
    );
    const r = await boot(kernel.vmlinuz, img, accel, {
      append: `kiln.config=${b64({ v: 1, env: { PORT: "9090" } })}`,
      qemuArgs: [
        "-netdev",
        "user,id=n0",
        "-device",
        "virtio-net-device,netdev=n0",
        "-drive",
        `file=${disk},if=none,id=d0,format=raw,readonly=on`,
        "-device",
        "virtio-blk-device,drive=d0",
      ],
    });
    const l = lines(r.out);
    const has = (s: string) => assert.ok(l.includes(s), `missing ${JSON.stringify(s)} in:\n${r.out}`);
    has("bg: started");
    has("main: /tmp/bg-ran seen");
    has("argv[1]: main");
    // env: defaults, baked, command line over baked, segment over both; nothing the kernel passed to init
    has("env: PATH=/bin:/usr/bin:/sbin:/usr/sbin");
    has("env: HOME=/");
    has("env: PORT=9090");
    has("env: GREETING=caf\u00e9");
    has("env: EXTRA=segment");
    assert.equal(l.filter((x) => x.startsWith("env: ")).length, 5, r.out);
    has("hostname: web2");
    has("cwd: /srv");
    assert.ok(
      l.some((x) => /^pid: \d+ ppid: 1$/.test(x)),
      r.out,
    );
    has("net: lo 127.0.0.1 mask 255.0.0.0 mtu 65536 up");
    has("net: eth0 10.0.2.15 mask 255.255.255.0 mtu 1400 up");
    // /proc/net/route: destination, gateway, mask in little-endian hex
    assert.ok(
      l.some((x) => /^route: eth0\t00000000\t0202000A\t0003\t.*\t00000000\t/.test(x)),
      r.out,
    );
    assert.ok(
      l.some((x) => /^route: eth0\t0000010A\t0202000A\t0003\t.*\t0000FFFF\t/.test(x)),
      r.out,
    );
    has("resolv: nameserver 10.0.2.3");
    has("ip_forward: 1");
    assert.ok(
      l.some((x) => /^mounts: \/dev\/vda \/data ext4 ro[,\s]/.test(x)),
      r.out,
    );
    has("data: hello from the disk");
    has("data write: Read-only file system");
    has("kiln: exit 0");
    assert.equal(r.status, 0);
  });
});
