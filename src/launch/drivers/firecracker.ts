/**
 * Firecracker: its JSON configuration (the API's objects, keyed as `firecracker --config-file` reads them:
 * boot-source, drives, machine-config, network-interfaces; see the swagger definition in Firecracker's
 * repository), run with `firecracker --no-api --config-file FILE`. Firecracker boots only an uncompressed
 * ELF vmlinux, finds virtio-mmio devices through the command line (the kernel needs
 * VIRTIO_MMIO_CMDLINE_DEVICES) and exits when the guest resets through the keyboard controller (reboot=k).
 */
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q, usageError } from "../../core/errors.js";
import { which } from "../../core/exec.js";
import type { CmdlineParts } from "../cmdline.js";
import type { Driver, LaunchPlan, MachineSpec, PlanContext, ProbeResult } from "../machine.js";
import { terminate } from "./waitGone.js";
import { unsupportedCommon } from "./xen.js";

export const FC_CONFIG = "firecracker.json";

export interface FirecrackerConfig {
  "boot-source": { kernel_image_path: string; initrd_path: string; boot_args: string };
  drives: { drive_id: string; path_on_host: string; is_root_device: boolean; is_read_only: boolean }[];
  "machine-config": { vcpu_count: number; mem_size_mib: number; smt: boolean };
  "network-interfaces": { iface_id: string; host_dev_name: string; guest_mac?: string }[];
}

export function firecrackerConfig(i: {
  spec: MachineSpec & { name: string };
  kernel: string;
  initrd: string;
  cmdline: string;
}): FirecrackerConfig {
  const { spec } = i;
  const net = spec.net;
  return {
    "boot-source": { kernel_image_path: i.kernel, initrd_path: i.initrd, boot_args: i.cmdline },
    drives: spec.disks.map((d, n) => ({
      drive_id: `d${n}`,
      path_on_host: d.file,
      is_root_device: false,
      is_read_only: d.ro,
    })),
    "machine-config": { vcpu_count: spec.cpus, mem_size_mib: spec.memoryMB, smt: false },
    "network-interfaces":
      net.kind === "tap"
        ? [{ iface_id: "eth0", host_dev_name: net.ifname, ...(net.mac ? { guest_mac: net.mac } : {}) }]
        : [],
  };
}

const ELF_HINT =
  "Firecracker boots an ELF kernel; bake with --kernel specialized, whose bzImage holds one with a PVH entry.";

export const firecrackerDriver: Driver = {
  name: "firecracker",

  async probe(): Promise<ProbeResult> {
    const bin = await which("firecracker");
    if (!bin) {
      return {
        available: false,
        reason: "Firecracker is not available: `firecracker` not found",
        hint: "Install Firecracker from its releases (github.com/firecracker-microvm/firecracker), or use --dry-run to get its configuration.",
      };
    }
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
    } catch {
      return {
        available: false,
        reason: "Firecracker is not available: /dev/kvm cannot be opened for reading and writing",
        hint: "Firecracker needs KVM: add yourself to the kvm group, or use the qemu backend.",
      };
    }
    return { available: true };
  },

  cmdlineFor(): CmdlineParts {
    // Firecracker has no PCI bus and exits on a keyboard-controller reset.
    return { override: ["console=ttyS0", "reboot=k", "panic=1"], ifAbsent: ["pci=off"] };
  },

  cmdlineReserve(spec) {
    // Firecracker appends one virtio_mmio.device= parameter per device.
    return 64 * ((spec.net.kind === "none" ? 0 : 1) + spec.disks.length);
  },

  diskDevice(index: number): string {
    return `vd${String.fromCharCode(97 + index)}`;
  },

  check(spec, image, dryRun) {
    unsupportedCommon(spec, "Firecracker");
    if (spec.console === "detached") {
      throw usageError(
        "KILN_EDETACH_UNSUPPORTED",
        "Cannot run Firecracker machines detached (-d) yet",
        "Run it attached, or use the qemu or xen backend for detached machines.",
      );
    }
    if (spec.net.kind === "user" || spec.net.kind === "bridge") {
      throw usageError(
        "KILN_ENET_UNSUPPORTED",
        `Cannot use ${spec.net.kind === "user" ? "user-mode networking or -p forwards" : "a bridge"} with Firecracker: it attaches guests to tap devices only`,
        "Create a tap device (ip tuntap add tap0 mode tap) and use --net tap:tap0.",
      );
    }
    const warnings: string[] = [];
    if (!image.direct) {
      const msg = `Image ${q(image.manifest.name)} has a ${image.manifest.kernel.format} kernel without a PVH entry, which Firecracker cannot boot`;
      if (!dryRun) throw new KilnError("KILN_EKERNEL_FORMAT", msg, ELF_HINT);
      warnings.push(`KILN_EKERNEL_FORMAT: ${msg}. ${ELF_HINT}`);
    }
    if (image.manifest.kernel.kind === "stock" && (spec.net.kind !== "none" || spec.disks.length > 0)) {
      warnings.push(
        "The stock kernel cannot find Firecracker's devices (it lacks VIRTIO_MMIO_CMDLINE_DEVICES); bake with --kernel specialized.",
      );
    }
    return warnings;
  },

  async plan(ctx: PlanContext): Promise<LaunchPlan> {
    const cfgPath = join(ctx.dir, FC_CONFIG);
    const cfg = firecrackerConfig({
      spec: ctx.spec,
      kernel: ctx.image.direct ?? ctx.image.kernel,
      initrd: ctx.initrd,
      cmdline: ctx.cmdline,
    });
    return {
      backend: "firecracker",
      command: ["firecracker", "--no-api", "--config-file", cfgPath],
      files: [{ name: FC_CONFIG, content: `${JSON.stringify(cfg, null, 2)}\n` }],
      warnings: [],
      daemonizes: false,
    };
  },

  async stop(status, dir) {
    await terminate(status.pid, dir, 3000);
  },
};
