import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KilnError } from "../../core/errors.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { LaunchableMedium, MachineSpec } from "../machine.js";
import { namedTestSpec } from "../machineSpecFixture.js";
import { launchableQemuArgs, linkMac, qemuArgs, qemuDriver, tscKhz } from "./qemu.js";

const spec = (over: Partial<MachineSpec> = {}) => namedTestSpec("m1", { ...over });
const image = (acpi = true, components: string[] = [], kernel: "stock" | "specialized" = "stock") =>
  ({
    dir: "/img",
    kernel: "/img/kernel",
    initrd: "/img/initrd",
    manifest: {
      name: "web",
      acpi,
      kernel: { kind: kernel },
      components: components.map((name) => ({ name, how: "module" })),
    },
  }) as unknown as Image;

function args(
  over: Partial<MachineSpec>,
  extra: { consoleFile?: string; acpi?: boolean; accel?: "kvm" | "tcg" } = {},
): string[] {
  return qemuArgs({
    spec: spec(over),
    image: image(extra.acpi ?? true),
    cmdline: "console=ttyS0 a,b",
    initrd: "/img/initrd",
    accel: extra.accel ?? "tcg",
    dir: "/h/machines/m1",
    control: "/h/machines/m1/qmp.sock",
    ...(extra.consoleFile ? { consoleFile: extra.consoleFile } : {}),
  });
}

/** The value after each occurrence of a flag. */
function values(a: string[], flag: string): string[] {
  return a.flatMap((x, i) => (x === flag ? [a[i + 1]!] : []));
}

/** The stock kernel's initcalls that kiln skips under TCG: two of tracing's and two self-tests. */
const TRACE_AND_SELFTESTS =
  "ftrace_check_for_weak_functions,trace_eval_init,crypto_kdf108_init,blake2s_mod_init";

describe("qemu arguments", () => {
  it("boots the kernel directly on microvm with the console on stdio and isa-debug-exit", () => {
    const a = args({});
    // Under TCG without the PIT (the ACPI kernel's only use of it is a slow early calibration).
    assert.deepEqual(values(a, "-M"), ["microvm,pit=off"]);
    assert.deepEqual(values(a, "-accel"), ["tcg"]);
    // All TCG emulates (but ERMS, slow there), so that -march=native programs find AVX2.
    assert.deepEqual(values(a, "-cpu"), ["max,-erms"]);
    assert.deepEqual(values(a, "-m"), ["256"]);
    assert.deepEqual(values(a, "-smp"), ["2"]);
    assert.deepEqual(values(a, "-kernel"), ["/img/kernel"]);
    assert.deepEqual(values(a, "-append"), ["console=ttyS0 a,b"]);
    assert.deepEqual(values(a, "-chardev"), ["stdio,id=con0,signal=on"]);
    assert.ok(values(a, "-device").includes("isa-debug-exit,iobase=0xf4,iosize=0x04"));
    for (const f of ["-nodefaults", "-no-user-config", "-no-reboot"]) assert.ok(a.includes(f), f);
    assert.ok(!a.includes("-daemonize"));
    assert.deepEqual(values(a, "-netdev"), []);
    assert.deepEqual(values(a, "-pidfile"), ["/h/machines/m1/hypervisor.pid"]);
  });

  it("uses mmio devices on microvm and pci devices on q35, and escapes commas in paths", () => {
    const disks = [
      { file: "/d/a,1.img", ro: true },
      { file: "/d/b.img", ro: false },
    ];
    const micro = args({ disks, net: { kind: "user", forwards: [] } });
    assert.deepEqual(values(micro, "-drive"), [
      "file=/d/a,,1.img,if=none,id=d0,format=raw,readonly=on",
      "file=/d/b.img,if=none,id=d1,format=raw",
    ]);
    assert.deepEqual(values(micro, "-device").slice(1), [
      "virtio-net-device,netdev=n0",
      "virtio-blk-device,drive=d0",
      "virtio-blk-device,drive=d1",
    ]);
    const q35 = args({ machine: "q35", disks, net: { kind: "user", forwards: [] } });
    assert.deepEqual(values(q35, "-M"), ["q35"]);
    assert.deepEqual(values(q35, "-device").slice(1), [
      "virtio-net-pci,netdev=n0",
      "virtio-blk-pci,drive=d0",
      "virtio-blk-pci,drive=d1",
    ]);
    // Without ACPI the PIT is the kernel's tick; under KVM the kernel never reads it.
    assert.deepEqual(values(args({}, { acpi: false }), "-M"), ["microvm,acpi=off"]);
    assert.deepEqual(values(args({}, { accel: "kvm" }), "-M"), ["microvm"]);
  });

  it("forwards TCP and UDP ports, and generates tap and bridge netdevs", () => {
    const user = args({
      net: {
        kind: "user",
        forwards: [
          { proto: "tcp", host: 8080, guest: 80 },
          { proto: "udp", host: 5353, guest: 53, hostAddr: "0.0.0.0" },
        ],
      },
    });
    assert.deepEqual(values(user, "-netdev"), [
      "user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53",
    ]);
    const tap = args({ net: { kind: "tap", ifname: "tap0", mac: "52:54:00:00:00:01" } });
    assert.deepEqual(values(tap, "-netdev"), ["tap,id=n0,ifname=tap0,script=no,downscript=no"]);
    assert.ok(values(tap, "-device").includes("virtio-net-device,netdev=n0,mac=52:54:00:00:00:01"));
    assert.deepEqual(values(args({ net: { kind: "bridge", bridge: "br0" } }), "-netdev"), [
      "bridge,id=n0,br=br0",
    ]);
  });

  it("attaches several NICs in order, socket links with a MAC of the machine's own", () => {
    const a = args({
      net: { kind: "socket", link: { mode: "listen", addr: "127.0.0.1:9001" } },
      moreNets: [
        { kind: "socket", link: { mode: "mcast", addr: "230.0.0.1:9002" } },
        { kind: "socket", link: { mode: "connect", addr: "127.0.0.1:9003" }, mac: "52:54:00:00:00:09" },
        { kind: "user", forwards: [] },
      ],
    });
    assert.deepEqual(values(a, "-netdev"), [
      "socket,id=n0,listen=127.0.0.1:9001",
      "socket,id=n1,mcast=230.0.0.1:9002,localaddr=127.0.0.1",
      "socket,id=n2,connect=127.0.0.1:9003",
      "user,id=n3",
    ]);
    const nics = values(a, "-device").filter((d) => d.startsWith("virtio-net"));
    assert.equal(nics.length, 4);
    const macs = nics.map((d) => /mac=([0-9a-f:]+)/.exec(d)?.[1]);
    assert.match(macs[0]!, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.notEqual(macs[0], macs[1]);
    assert.equal(macs[2], "52:54:00:00:00:09");
    // User networking keeps QEMU's own address; the same machine name and place give the same MAC again.
    assert.equal(macs[3], undefined);
    const again = args({ net: { kind: "socket", link: { mode: "listen", addr: "127.0.0.1:9001" } } });
    assert.equal(
      values(again, "-device").find((d) => d.startsWith("virtio-net")),
      nics[0],
    );
    assert.notEqual(linkMac("m2", 0), linkMac("m1", 0));
  });

  it("detaches with the console in a file, and adds gdb and 9p shares when asked", () => {
    const a = args(
      { gdbPort: 1234, shares: [{ host: "/srv", mount: "/srv", ro: true }] },
      { consoleFile: "/h/machines/m1/console.log" },
    );
    assert.deepEqual(values(a, "-chardev"), ["file,id=con0,path=/h/machines/m1/console.log"]);
    assert.ok(a.includes("-daemonize"));
    assert.deepEqual(values(a, "-gdb"), ["tcp:127.0.0.1:1234"]);
    assert.deepEqual(values(a, "-fsdev"), [
      "local,id=fs0,path=/srv,security_model=none,multidevs=remap,readonly=on",
    ]);
    assert.ok(values(a, "-device").includes("virtio-9p-device,fsdev=fs0,mount_tag=share0"));
  });

  it("refuses shares when the kernel has no 9p", () => {
    const s = spec({ shares: [{ host: "/srv", mount: "/srv", ro: false }] });
    assert.throws(
      () => qemuDriver.check(s, image(true, ["virtio.net"]), false),
      (e: KilnError) => e.code === "KILN_ESHARE_UNSUPPORTED" && e.message.includes('"/srv"'),
    );
    assert.deepEqual(qemuDriver.check(s, image(true, ["fs.9p"]), false), []);
  });

  it("adds the TCG timer hints only under TCG, and reads isa-debug-exit statuses", () => {
    assert.deepEqual(qemuDriver.cmdlineFor(spec({ machine: "q35" }), image(), "kvm").ifAbsent, []);
    // microvm has no PCI: the stock kernel is kept from probing for it (and logging a Fatal line).
    assert.deepEqual(qemuDriver.cmdlineFor(spec(), image(), "kvm").ifAbsent, [
      "initcall_blacklist=pci_arch_init,pci_subsys_init",
    ]);
    assert.deepEqual(qemuDriver.cmdlineFor(spec(), image(false, [], "specialized"), "kvm").ifAbsent, []);
    // A specialized kernel built with PCI (and kallsyms) and ACPI, on microvm,acpi=off.
    assert.deepEqual(
      qemuDriver.cmdlineFor(spec(), image(false, ["pci", "acpi"], "specialized"), "kvm").ifAbsent,
      ["initcall_blacklist=pci_arch_init,pci_subsys_init", "acpi=off"],
    );
    assert.deepEqual(
      qemuDriver.cmdlineFor(spec({ machine: "q35" }), image(false, ["pci", "acpi"], "specialized"), "kvm")
        .ifAbsent,
      [],
    );
    assert.ok(
      qemuDriver.cmdlineFor(spec(), image(), "tcg").ifAbsent.some((p) => p.startsWith("tsc_early_khz=")),
    );
    // noapictimer: only for the specialized kernel (on microvm the stock kernel then has no timer at all).
    const stockTcg = qemuDriver.cmdlineFor(spec(), image(), "tcg").ifAbsent;
    assert.ok(!stockTcg.includes("noapictimer"));
    // The stock kernel keeps its SMP code and skips ftrace's weak-function scan under TCG; its blacklist is
    // one parameter with microvm's PCI probes in it.
    assert.ok(stockTcg.includes("noreplace-smp"));
    // ...and clears pages with its unrolled loops, not with rep stos, which TCG runs an iteration at a time.
    assert.ok(stockTcg.includes("clearcpuid=rep_good"));
    assert.ok(!qemuDriver.cmdlineFor(spec(), image(), "kvm").ifAbsent.includes("clearcpuid=rep_good"));
    assert.deepEqual(
      stockTcg.filter((p) => p.startsWith("initcall_blacklist=")),
      [`initcall_blacklist=pci_arch_init,pci_subsys_init,${TRACE_AND_SELFTESTS}`],
    );
    assert.deepEqual(
      qemuDriver
        .cmdlineFor(spec({ machine: "q35" }), image(), "tcg")
        .ifAbsent.filter((p) => p.startsWith("initcall_blacklist=")),
      [`initcall_blacklist=${TRACE_AND_SELFTESTS}`],
    );
    assert.ok(
      !qemuDriver
        .cmdlineFor(spec(), image(false, [], "specialized"), "tcg")
        .ifAbsent.includes("noreplace-smp"),
    );
    assert.ok(
      qemuDriver.cmdlineFor(spec(), image(false, [], "specialized"), "tcg").ifAbsent.includes("noapictimer"),
    );
    assert.ok(
      !qemuDriver.cmdlineFor(spec(), image(false, [], "specialized"), "kvm").ifAbsent.includes("noapictimer"),
    );
    // kiln-init loads only the modules of the devices attached.
    assert.ok(qemuDriver.cmdlineFor(spec(), image(), "kvm").override.includes("kiln.dev=none"));
    assert.equal(tscKhz("model name : x\ncpu MHz\t\t: 2596.124\n"), 2596124);
    assert.equal(tscKhz("nothing"), 2_000_000);
    assert.equal(qemuDriver.statusFromExit?.(15, null), 7);
    assert.equal(qemuDriver.statusFromExit?.(1, null), undefined);
    assert.equal(qemuDriver.statusFromExit?.(0, null), undefined);
  });

  it("boots a launchable by its firmware: the medium's machine and drive, no -kernel, at least its memory", () => {
    const launchable = {
      kind: "raw-uefi",
      args: ["-M", "q35", "-bios", "/ovmf", "-drive", "file=/d.img,if=none,id=boot"],
      memoryMinMB: 256,
      firmware: "/ovmf",
    };
    const a = launchableQemuArgs({
      spec: {
        ...spec({
          memoryMB: 128,
          net: { kind: "user", forwards: [{ proto: "tcp", host: 8080, guest: 80 }] },
        }),
        launchable,
      },
      accel: "tcg",
      dir: "/h/machines/m1",
      control: "/h/machines/m1/qmp.sock",
    });
    assert.deepEqual(values(a, "-M"), ["q35"]);
    assert.deepEqual(values(a, "-bios"), ["/ovmf"]);
    assert.deepEqual(values(a, "-m"), ["256"]);
    assert.ok(!a.includes("-kernel") && !a.includes("-append"));
    assert.deepEqual(values(a, "-chardev"), ["stdio,id=con0,signal=on"]);
    assert.ok(a.includes("-no-reboot"));
    assert.deepEqual(values(a, "-netdev"), ["user,id=n0,hostfwd=tcp:127.0.0.1:8080-:80"]);
    assert.ok(values(a, "-device").includes("virtio-net-pci,netdev=n0"));
    const big = launchableQemuArgs({
      spec: { ...spec({ memoryMB: 1024 }), launchable },
      accel: "tcg",
      dir: "/h/machines/m1",
      control: "/h/machines/m1/qmp.sock",
    });
    assert.deepEqual(values(big, "-m"), ["1024"]);
  });

  it("boots a medium that starts a hypervisor on the CPU model Xen needs under TCG, the host's under KVM", () => {
    const launchable = {
      kind: "raw-bios",
      args: ["-M", "pc", "-drive", "file=/host.img,if=none,id=boot"],
      memoryMinMB: 1280,
      hypervisor: "xen",
    };
    const { hypervisor: _, ...plain } = launchable;
    const run = (accel: "kvm" | "tcg", medium: LaunchableMedium = launchable) =>
      launchableQemuArgs({
        spec: { ...spec({ memoryMB: 128 }), launchable: medium },
        accel,
        dir: "/h/machines/m1",
        control: "/h/machines/m1/qmp.sock",
      });
    const tcg = run("tcg");
    assert.deepEqual(values(tcg, "-cpu"), ["max,-rdtscp,-smap"]);
    assert.deepEqual(values(tcg, "-m"), ["1280"]);
    assert.deepEqual(values(run("kvm"), "-cpu"), ["host"]);
    assert.deepEqual(
      values(run("tcg", plain), "-cpu"),
      ["max,-erms"],
      "without a hypervisor, all TCG emulates",
    );
    assert.deepEqual(values(run("kvm", plain), "-cpu"), ["host"]);
  });
});
