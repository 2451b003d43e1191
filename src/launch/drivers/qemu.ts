/**
 * QEMU: direct kernel boot (-kernel/-initrd/-append) on microvm by default, q35 or pc on request; KVM when
 * it really works here, else TCG with the timer hints the stock kernel needs under software emulation
 * (microvm hangs in early TSC calibration without tsc_early_khz). The guest's exit status also reaches
 * QEMU through isa-debug-exit (status (N<<1)|1); the console line stays authoritative. A launchable file
 * (kiln image's disk or ISO) boots through its firmware instead, on the machine its medium names.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KilnError, q, usageError } from "../../core/errors.js";
import { which } from "../../core/exec.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { CmdlineParts } from "../cmdline.js";
import type {
  Driver,
  LaunchableMedium,
  LaunchablePlanContext,
  LaunchPlan,
  MachineSpec,
  MachineStatus,
  PlanContext,
  ProbeResult,
} from "../machine.js";
import { machineNets } from "../machine.js";
import { qmpCommand } from "../qmp.js";
import { FILES, isOurProcess } from "../state.js";
import { refuseLibvirtNetwork } from "./refuseLibvirtNetwork.js";
import { terminate, waitGone } from "./waitGone.js";

export function qemuBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_QEMU || "qemu-system-x86_64";
}

/** The host TSC frequency in kHz for tsc_early_khz (TCG's TSC follows the host's). */
export function tscKhz(cpuinfo?: string): number {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      text = "";
    }
  }
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  const mhz = m ? Number(m[1]) : Number.NaN;
  return Number.isFinite(mhz) && mhz > 100 ? Math.round(mhz * 1000) : 2_000_000;
}

/** QEMU option values are comma-separated: a comma inside a value is written twice. */
/** A locally administered unicast address, stable for a machine name and NIC index. */
export function linkMac(name: string, index: number): string {
  const h = createHash("sha256").update(`${name}\0${index}`).digest();
  return ["52", "54", "00", ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

function v(value: string): string {
  return value.replaceAll(",", ",,");
}

const TCG_HINTS = (khz: number) => [
  `tsc_early_khz=${khz}`,
  "no_timer_check",
  "tsc=reliable",
  "cryptomgr.notests=1",
];

/**
 * Debian's kernel under software emulation, where patching kernel text is dear (each patch a TLB flush in
 * QEMU's TCG), found by sampling the guest's instruction pointer through QMP during boots
 * (bench/guest-profile.mjs). On one CPU the kernel rewrites every LOCK prefix of its text to UP code,
 * thousands of patches: noreplace-smp keeps them (correct on one CPU; more CPUs never patch). ftrace's
 * check for weak functions looks up every one of its ~37,700 call sites in kallsyms, and the trace event
 * enum maps are rewritten into every event's format (~20 ms in the profile), both for tracing that a kiln
 * guest never turns on. QEMU start -> hello's line 1250 -> 1029 ms (medians of 11, interleaved).
 * clearcpuid=rep_good: "rep stos is fast" is true of CPUs, not of TCG, which runs a rep-prefixed instruction
 * one iteration at a time (clear_page_rep was the profile's hottest function, 83 ms); without the flag the
 * kernel clears and fills pages with its unrolled loops. It changes which routine runs, nothing else, and
 * the kernel records it as a taint (S, CPU out of spec). Hello 1150 -> 1050 ms (medians of 9, alternating);
 * the specialized kernel, which clears far fewer pages, did not move (291 / 294 ms), so it does not get it.
 * crypto_kdf108_init and blake2s_mod_init only run self-tests of code that works without them (25 and 4 ms
 * by initcall_debug). tracer_init_tracefs (77 ms) is not skipped: without it a panicking kernel loops in
 * ring_buffer_record_off instead of rebooting (launch-memory.test.ts's too-small -M hung in 6 of 8 boots).
 */
const STOCK_TCG_HINTS = [
  "noreplace-smp",
  "initcall_blacklist=ftrace_check_for_weak_functions,trace_eval_init,crypto_kdf108_init,blake2s_mod_init",
  "clearcpuid=rep_good",
];

/** Every initcall_blacklist= of `parts` as one, where the first was: a user's own value then replaces all. */
function oneBlacklist(parts: string[]): string[] {
  const key = "initcall_blacklist=";
  const first = parts.findIndex((p) => p.startsWith(key));
  const names = parts.filter((p) => p.startsWith(key)).map((p) => p.slice(key.length));
  return parts.flatMap((p, i) =>
    !p.startsWith(key) ? [p] : i === first ? [`${key}${names.join(",")}`] : [],
  );
}

/**
 * microvm has no PCI host bridge (kiln never turns on its pcie=on), yet a kernel built with PCI probes for
 * one: x86's pci_arch_init then logs "PCI: Fatal: No config space access function found" (KERN_ERR) and
 * pcibios_init "PCI: System does not support PCI" (KERN_WARNING) on every boot. No pci= value stops that:
 * pci=off clears the probe mask but the Fatal line is printed whenever no access method was found, and
 * pci=noacpi takes ACPI's interrupt routing away from microvm's virtio-mmio devices and the boot hangs. So
 * those two initcalls are not run at all. initcall_blacklist resolves names through kallsyms: Debian's
 * kernel has it, and so does a specialized kernel with the pci component (its kconfig_extra); one without
 * PCI needs nothing, and would warn that the parameter needs kallsyms.
 * The specialized kernel boots on microvm,acpi=off: where it was built with ACPI (the qemu platform's, for
 * q35 and pc), it is told there is none rather than logging "ACPI BIOS Error (bug): A valid RSDP was not
 * found".
 */
function microvmFacts(image: Image): string[] {
  const m = image.manifest;
  if (m.kernel.kind === "stock") return ["initcall_blacklist=pci_arch_init,pci_subsys_init"];
  const has = (c: string) => m.components.some((x) => x.name === c);
  return [
    ...(has("pci") ? ["initcall_blacklist=pci_arch_init,pci_subsys_init"] : []),
    ...(m.acpi === false && has("acpi") ? ["acpi=off"] : []),
  ];
}

export interface QemuArgsInput {
  spec: MachineSpec & { name: string };
  image: Image;
  cmdline: string;
  initrd: string;
  accel: "kvm" | "tcg";
  dir: string;
  control: string;
  /** Detached: QEMU daemonizes and writes the console to this file. */
  consoleFile?: string;
}

export function qemuArgs(i: QemuArgsInput): string[] {
  if (i.image.hypervisor) return multibootArgs(i, i.image.hypervisor);
  const mmio = i.spec.machine === "microvm";
  const machine = mmio ? microvmMachine(i.image.manifest.acpi !== false, i.accel) : i.spec.machine;
  return machineArgs(i, {
    cpu: programCpu(i.accel),
    machine: ["-M", machine],
    boot: ["-kernel", i.image.direct ?? i.image.kernel, "-initrd", i.initrd, "-append", i.cmdline],
    mmio,
  });
}

/**
 * microvm's machine string. With ACPI, a kernel on microvm finds hardware-reduced ACPI and sets up no PIT
 * timer (its tick is the local APIC's), so the PIT serves only its early CPU-frequency calibration, which
 * under software emulation reads the PIT until the result is precise enough (the "Fast TSC calibration"
 * line). Without a PIT that calibration fails at once and the kernel takes tsc_early_khz's frequency
 * instead (TCG_HINTS): QEMU start -> hello's line 1075 -> 1039 ms on the stock kernel (medians of 20, ABBA
 * order). Without ACPI (the specialized kernel) the PIT is the tick and stays, and under KVM the kernel
 * calibrates from kvmclock and never reads it.
 */
export function microvmMachine(acpi: boolean, accel: "kvm" | "tcg"): string {
  if (!acpi) return "microvm,acpi=off";
  return accel === "tcg" ? "microvm,pit=off" : "microvm";
}

/**
 * The CPU model for a machine that runs a hypervisor. Under software emulation it drops two features QEMU's
 * TCG gets wrong for Xen (field notes): SMAP (dom0 faults in create_bounce_frame) and RDTSCP (a PVH guest
 * dies on an SVM instruction-length emulation failure).
 */
function hypervisorCpu(accel: "kvm" | "tcg"): string[] {
  return ["-cpu", accel === "tcg" ? "max,-rdtscp,-smap" : "host"];
}

/**
 * The CPU model for a program: the host's CPU under KVM, so that a program built with `-march=native` on
 * this machine finds every instruction it was built for; under software emulation, everything TCG can
 * emulate ("max": QEMU 7.2's has AVX2, FMA, BMI, AES and SHA, but no AVX-512, so a program built here with
 * -march=native for an AVX-512 host can still die of SIGILL, which kiln then explains). QEMU's default
 * model (qemu64) lacks even SSE4.2 and POPCNT. Without ERMS: with it the kernel clears and copies pages
 * with `rep movsb`/`rep stosb`, which TCG runs slowly, and QEMU start -> hello's line took 0.50 s against
 * 0.36 s on qemu64 (medians of 11, alternating); without it 0.38 s. Compilers do not emit code for ERMS.
 */
function programCpu(accel: "kvm" | "tcg"): string[] {
  return ["-cpu", accel === "tcg" ? "max,-erms" : "host"];
}

/**
 * An image that carries its hypervisor (a Xen host) boots it by multiboot: QEMU loads the hypervisor with
 * -kernel and its command line with -append, and hands it the kernel and initrd as modules (-initrd takes
 * them comma-separated, each path followed by its own command line), on hypervisorCpu().
 */
function multibootArgs(i: QemuArgsInput, hypervisor: string): string[] {
  const hv = i.image.manifest.hypervisor!;
  const dom0MB = Math.min(Math.max(512, Math.floor(i.spec.memoryMB / 2)), 4096);
  const hvCmdline = [
    hv.cmdline,
    ...(/(^|\s)dom0_mem=/.test(hv.cmdline) ? [] : [`dom0_mem=${dom0MB}M,max:${dom0MB}M`]),
  ]
    .filter(Boolean)
    .join(" ");
  return [
    ...machineArgs(i, {
      cpu: hypervisorCpu(i.accel),
      machine: ["-M", i.spec.machine],
      boot: [
        "-kernel",
        hypervisor,
        "-append",
        hvCmdline,
        "-initrd",
        `${v(`${i.image.direct ?? i.image.kernel} ${i.cmdline}`)},${v(i.initrd)}`,
      ],
      mmio: false,
    }),
  ];
}

export interface LaunchableArgsInput {
  spec: MachineSpec & { name: string; launchable: LaunchableMedium };
  accel: "kvm" | "tcg";
  dir: string;
  control: string;
  consoleFile?: string;
}

/**
 * A launchable booted by its firmware (SeaBIOS, or OVMF on q35): the medium's own machine, firmware and
 * drive in place of -kernel, with at least the memory the firmware (or the hypervisor it starts) needs, and
 * the CPU model a hypervisor needs; console, exit device, NIC and extra disks as for an image.
 */
export function launchableQemuArgs(i: LaunchableArgsInput): string[] {
  const { launchable } = i.spec;
  const memoryMB = Math.max(i.spec.memoryMB, launchable.memoryMinMB);
  return [
    ...machineArgs(
      { ...i, spec: { ...i.spec, memoryMB } },
      {
        cpu: launchable.hypervisor ? hypervisorCpu(i.accel) : programCpu(i.accel),
        machine: [],
        boot: launchable.args,
        mmio: false,
      },
    ),
  ];
}

/** Everything but the machine type and what boots: identity, resources, console, devices, control. */
function machineArgs(
  i: {
    spec: MachineSpec & { name: string };
    accel: "kvm" | "tcg";
    dir: string;
    control: string;
    consoleFile?: string;
  },
  m: { cpu: string[]; machine: string[]; boot: string[]; mmio: boolean },
): string[] {
  const { spec } = i;
  const bus = (dev: string) => (m.mmio ? `${dev}-device` : `${dev}-pci`);
  const a: string[] = [
    "-name",
    v(`kiln-${spec.name}`),
    ...m.machine,
    "-accel",
    i.accel,
    ...m.cpu,
    "-m",
    String(spec.memoryMB),
    "-smp",
    String(spec.cpus),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
  ];
  if (i.consoleFile) a.push("-chardev", `file,id=con0,path=${v(i.consoleFile)}`);
  else a.push("-chardev", "stdio,id=con0,signal=on");
  a.push("-serial", "chardev:con0");
  a.push("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04");
  a.push(...m.boot);
  machineNets(spec).forEach((net, n) => {
    let netdev: string;
    if (net.kind === "user") {
      netdev = `user,id=n${n}`;
      for (const f of net.forwards)
        netdev += `,hostfwd=${f.proto}:${f.hostAddr ?? "127.0.0.1"}:${f.host}-:${f.guest}`;
    } else if (net.kind === "tap") {
      netdev = `tap,id=n${n},ifname=${v(net.ifname)},script=no,downscript=no`;
    } else if (net.kind === "bridge") {
      netdev = `bridge,id=n${n},br=${v(net.bridge)}`;
    } else if (net.kind === "socket") {
      const l = net.link;
      netdev = `socket,id=n${n},${l.mode}=${l.addr}${l.mode === "mcast" ? `,localaddr=${l.local ?? "127.0.0.1"}` : ""}`;
    } else {
      return;
    }
    // QEMU gives every process's first NIC the same address (52:54:00:12:34:56): machines on one link need
    // their own, so a link's NIC gets one derived from the machine's name and the NIC's place.
    const mac =
      net.kind === "user"
        ? undefined
        : (net.mac ?? (net.kind === "socket" ? linkMac(spec.name ?? "", n) : undefined));
    a.push("-netdev", netdev, "-device", `${bus("virtio-net")},netdev=n${n}${mac ? `,mac=${mac}` : ""}`);
  });
  spec.disks.forEach((d, n) => {
    a.push(
      "-drive",
      `file=${v(d.file)},if=none,id=d${n},format=raw${d.ro ? ",readonly=on" : ""}`,
      "-device",
      `${bus("virtio-blk")},drive=d${n}`,
    );
  });
  spec.shares.forEach((s, n) => {
    a.push(
      "-fsdev",
      // multidevs=remap: a share spanning several host file systems would otherwise give the guest clashing
      // inode numbers (the guest then caches one directory for another).
      `local,id=fs${n},path=${v(s.host)},security_model=none,multidevs=remap${s.ro ? ",readonly=on" : ""}`,
      "-device",
      `${bus("virtio-9p")},fsdev=fs${n},mount_tag=share${n}`,
    );
  });
  // A gdb stub controls the guest: like a port forward, only this host may reach it.
  if (spec.gdbPort !== undefined) a.push("-gdb", `tcp:127.0.0.1:${spec.gdbPort}`);
  a.push("-qmp", `unix:${v(i.control)},server=on,wait=off`);
  a.push("-pidfile", join(i.dir, FILES.pid));
  if (i.consoleFile) a.push("-daemonize");
  return a;
}

export const qemuDriver: Driver = {
  name: "qemu",

  async probe(): Promise<ProbeResult> {
    const bin = qemuBinary();
    if (await which(bin)) return { available: true };
    return {
      available: false,
      reason: `QEMU is not available: ${q(bin)} not found`,
      hint: "Install it: apt-get install qemu-system-x86 (or set KILN_QEMU to its path).",
    };
  },

  cmdlineFor(spec: MachineSpec, image: Image, accel): CmdlineParts {
    // The devices this machine has: kiln-init loads only the modules that serve them (guest/README.md).
    const dev = [
      ...(machineNets(spec).length === 0 ? [] : ["net"]),
      ...(spec.disks.length + spec.shares.length > 0 ? ["blk"] : []),
    ];
    // Under a hypervisor the kernel is its first domain: its console is the hypervisor's (hvc0), which the
    // hypervisor puts on the serial port; the TSC and APIC timer hints are for a kernel on QEMU's CPU.
    if (image.manifest.hypervisor)
      return { override: ["console=hvc0", "panic=-1", `kiln.dev=${dev.join(",") || "none"}`], ifAbsent: [] };
    const stock = image.manifest.kernel.kind === "stock";
    return {
      override: ["console=ttyS0", "reboot=t", "panic=-1", `kiln.dev=${dev.join(",") || "none"}`],
      ifAbsent: oneBlacklist([
        ...(spec.machine === "microvm" ? microvmFacts(image) : []),
        ...(accel === "tcg"
          ? [
              ...TCG_HINTS(tscKhz()),
              // Under software emulation the local APIC timer's calibration fails after ~0.2 s of trying;
              // the specialized kernel then takes another clock event device at once (hello 0.58 -> 0.32 s).
              // Not for the stock kernel: on microvm its ACPI is hardware-reduced, so it sets up no PIT, and
              // without the APIC timer no timer fires at all (`sleep 2` never returns; Redis hung).
              ...(stock ? STOCK_TCG_HINTS : ["noapictimer"]),
            ]
          : []),
      ]),
    };
  },

  cmdlineReserve(spec, image) {
    // microvm without ACPI announces each virtio-mmio device on the command line itself (~60 bytes each).
    if (spec.machine !== "microvm" || image.manifest.acpi !== false) return 0;
    const devices = machineNets(spec).length + spec.disks.length + spec.shares.length;
    return 64 * devices;
  },

  diskDevice(index: number): string {
    return `vd${String.fromCharCode(97 + index)}`;
  },

  check(spec, image) {
    refuseLibvirtNetwork(spec, "QEMU");
    if (image.manifest.hypervisor && spec.machine === "microvm") {
      throw usageError(
        "KILN_EMACHINE_UNSUPPORTED",
        `Cannot boot image ${q(image.manifest.name)} on machine type "microvm": it boots under ${image.manifest.hypervisor.name}, which QEMU loads by multiboot on pc or q35 only`,
        "Drop --machine (kiln picks pc for it), or give --machine pc or q35.",
      );
    }
    if (spec.shares.length > 0) {
      const has9p = image.manifest.components.some((c) => c.name === "fs.9p" || c.name === "virtio.9p");
      if (!has9p) {
        throw new KilnError(
          "KILN_ESHARE_UNSUPPORTED",
          `Cannot share ${q(spec.shares[0]!.host)} with image ${q(image.manifest.name)}: its kernel has no 9p file system`,
          "Debian's cloud kernel has no 9p: copy the files into a disk image and attach it with -b FILE,/MOUNT, or bake with a kernel that has fs.9p.",
        );
      }
    }
    return [];
  },

  async plan(ctx: PlanContext): Promise<LaunchPlan> {
    const accel = ctx.accel ?? "tcg";
    const control = ctx.control;
    const args = qemuArgs({
      spec: ctx.spec,
      image: ctx.image,
      cmdline: ctx.cmdline,
      initrd: ctx.initrd,
      accel,
      dir: ctx.dir,
      control,
      ...(ctx.consoleFile ? { consoleFile: ctx.consoleFile } : {}),
    });
    return qemuPlan(args, ctx.dir, control, ctx.consoleFile !== undefined);
  },

  async planLaunchable(ctx: LaunchablePlanContext): Promise<LaunchPlan> {
    const args = launchableQemuArgs({
      spec: ctx.spec,
      accel: ctx.accel,
      dir: ctx.dir,
      control: ctx.control,
      ...(ctx.consoleFile ? { consoleFile: ctx.consoleFile } : {}),
    });
    return qemuPlan(args, ctx.dir, ctx.control, ctx.consoleFile !== undefined);
  },

  statusFromExit(code) {
    // isa-debug-exit makes QEMU exit with (N<<1)|1; 1 alone is also QEMU's own failure status.
    if (code !== null && code > 1 && code % 2 === 1) return code >> 1;
    return undefined;
  },

  async stop(status: MachineStatus, dir, opts) {
    if (status.control) {
      try {
        await qmpCommand(status.control, "quit", undefined, Math.min(opts.timeoutMs, 3000));
      } catch {}
    }
    if (await waitGone(() => isOurProcess(status.pid, dir), opts.timeoutMs)) return;
    await terminate(status.pid, dir, 2000);
  },
};

/** A detached QEMU daemonizes and writes its pid file; an attached one is the launcher's child. */
function qemuPlan(args: string[], dir: string, control: string, detached: boolean): LaunchPlan {
  return {
    backend: "qemu",
    command: [qemuBinary(), ...args],
    files: [],
    warnings: [],
    daemonizes: detached,
    pidFile: join(dir, FILES.pid),
    control,
  };
}
