/**
 * Xen: an xl(1) domain configuration (xl.cfg(5)) for a PVH guest with direct kernel boot, run with
 * `xl create CONFIG -c` (the console stays attached; the domain is destroyed when the guest powers off,
 * reboots or crashes, which ends `xl create -c`). Devices are Xen's frontends: disks are xvda, xvdb, ...
 * and the NIC is a vif on a bridge. User-mode networking does not exist here.
 */
import { join } from "node:path";
import { KilnError, q, usageError } from "../../core/errors.js";
import { exec, which } from "../../core/exec.js";
import type { CmdlineParts } from "../cmdline.js";
import type { Driver, LaunchPlan, MachineSpec, PlanContext, ProbeResult } from "../machine.js";
import { terminate } from "./waitGone.js";

export const XL_CONFIG = "xen.cfg";

/** An xl string value: double quotes, with backslash and quote escaped. */
function str(s: string): string {
  return `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

export interface XlConfigInput {
  spec: MachineSpec & { name: string };
  kernel: string;
  initrd: string;
  cmdline: string;
  imageName: string;
}

export function xlConfig(i: XlConfigInput): string {
  const { spec } = i;
  const lines = [
    `# Written by kiln for image ${i.imageName}: xl create -c THIS_FILE`,
    `name = ${str(`kiln-${spec.name}`)}`,
    `type = "pvh"`,
    `kernel = ${str(i.kernel)}`,
    `ramdisk = ${str(i.initrd)}`,
    `cmdline = ${str(i.cmdline)}`,
    `memory = ${spec.memoryMB}`,
    `vcpus = ${spec.cpus}`,
    `on_poweroff = "destroy"`,
    `on_reboot = "destroy"`,
    `on_crash = "destroy"`,
  ];
  const net = spec.net;
  if (net.kind === "bridge") {
    lines.push(`vif = [ ${str(`bridge=${net.bridge}${net.mac ? `,mac=${net.mac}` : ""}`)} ]`);
  }
  if (spec.disks.length > 0) {
    const disks = spec.disks.map((d, n) =>
      // target= goes last: it is the one value that may itself contain commas.
      str(`format=raw, vdev=${xenDisk(n)}, access=${d.ro ? "ro" : "rw"}, target=${d.file}`),
    );
    lines.push(`disk = [ ${disks.join(", ")} ]`);
  }
  return `${lines.join("\n")}\n`;
}

function xenDisk(index: number): string {
  return `xvd${String.fromCharCode(97 + index)}`;
}

export const xenDriver: Driver = {
  name: "xen",

  async probe(): Promise<ProbeResult> {
    const xl = await which("xl");
    if (!xl) {
      return {
        available: false,
        reason: "Xen is not available: `xl` not found",
        hint: "Run kiln in a Xen dom0 with the Xen tools (apt-get install xen-utils), or use --dry-run to get the xl configuration.",
      };
    }
    const info = await exec(xl, ["info"], { check: false, timeoutMs: 10_000 }).catch(() => undefined);
    if (info?.code !== 0) {
      return {
        available: false,
        reason: "Xen is not available: `xl info` failed (not running in a Xen dom0?)",
        hint: "Boot this host under the Xen hypervisor, or use --dry-run to get the xl configuration.",
      };
    }
    return { available: true };
  },

  cmdlineFor(): CmdlineParts {
    // A PVH guest's console is the Xen console, hvc0.
    return { override: ["console=hvc0"], ifAbsent: [] };
  },

  diskDevice: xenDisk,

  check(spec) {
    unsupportedCommon(spec, "Xen");
    if (spec.net.kind === "user") {
      throw usageError(
        "KILN_ENET_UNSUPPORTED",
        "Cannot use user-mode networking or -p forwards with Xen: they are QEMU features",
        "Attach the guest to a bridge: --net bridge:xenbr0 (forward ports on the host's firewall).",
      );
    }
    if (spec.net.kind === "tap") {
      throw usageError(
        "KILN_ENET_UNSUPPORTED",
        `Cannot use tap ${q(spec.net.ifname)} with Xen: the vif backend makes its own interface`,
        "Name the bridge it joins instead: --net bridge:xenbr0.",
      );
    }
    return [];
  },

  async plan(ctx: PlanContext): Promise<LaunchPlan> {
    const cfgPath = join(ctx.dir, XL_CONFIG);
    const content = xlConfig({
      spec: ctx.spec,
      kernel: ctx.image.direct ?? ctx.image.kernel,
      initrd: ctx.initrd,
      cmdline: ctx.cmdline,
      imageName: ctx.image.manifest.name,
    });
    return {
      backend: "xen",
      command: ["xl", "create", cfgPath, "-c"],
      files: [{ name: XL_CONFIG, content }],
      warnings: [],
      daemonizes: false,
    };
  },

  async stop(status, dir, opts) {
    await exec("xl", ["destroy", `kiln-${status.name}`], { check: false, timeoutMs: opts.timeoutMs }).catch(
      () => undefined,
    );
    await terminate(status.pid, dir, 2000);
  },
};

/** What neither Xen nor Firecracker offers through kiln. */
export function unsupportedCommon(spec: MachineSpec, what: string): void {
  if (spec.console === "detached") {
    throw usageError(
      "KILN_EDETACH_UNSUPPORTED",
      `Cannot run ${what} machines detached (-d) yet`,
      "Run it attached, or use the qemu backend for detached machines.",
    );
  }
  if (spec.gdbPort !== undefined) {
    throw usageError(
      "KILN_EGDB_UNSUPPORTED",
      `Cannot open a gdb port with ${what}`,
      "Debug the image under QEMU: kiln launch qemu -D PORT IMAGE.",
    );
  }
  if (spec.shares.length > 0) {
    throw new KilnError(
      "KILN_ESHARE_UNSUPPORTED",
      `Cannot share host directories with ${what} guests`,
      "Copy the files into a disk image and attach it with -b FILE,/MOUNT.",
      { kind: "usage" },
    );
  }
}
