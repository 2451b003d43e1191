/**
 * Xen: an xl(1) domain configuration (xl.cfg(5)) for a PVH guest with direct kernel boot, run in a dom0 with
 * `xl create -p -c CONFIG`: the domain is created paused, kiln writes the launch-time configuration into the
 * guest's xenstore home (xenstoreConfig.ts; kiln-init reads it, as Rumprun's guests did), then unpauses it.
 * The console stays attached; the domain is destroyed when the guest powers off, reboots or crashes, which
 * ends `xl create -c`, whose own status says nothing of the guest's: that is the console's `kiln: exit N`.
 * Devices are Xen's frontends: disks are xvda, xvdb, ... and the NIC is a vif on a bridge. User-mode
 * networking does not exist here. Detached (-d), the same command runs in a session of its own with the
 * console going to the log; stop destroys the domain.
 */
import { join } from "node:path";
import { KilnError, q, usageError } from "../../core/errors.js";
import { exec, which } from "../../core/exec.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { CmdlineParts } from "../cmdline.js";
import type { Driver, LaunchPlan, MachineSpec, PlanContext, ProbeResult } from "../machine.js";
import { xenstoreConfig } from "../xenstoreConfig.js";
import { refuseLibvirtNetwork } from "./refuseLibvirtNetwork.js";
import { terminate } from "./waitGone.js";
import { hotplugScript } from "./xenHotplug.js";

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
  /** The hotplug script for disks and vifs (xenHotplug.ts); Xen's own when absent. */
  script?: string;
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
    lines.push(
      `vif = [ ${str(`bridge=${net.bridge}${net.mac ? `,mac=${net.mac}` : ""}${i.script ? `,script=${i.script}` : ""}`)} ]`,
    );
  }
  if (spec.disks.length > 0) {
    const disks = spec.disks.map((d, n) =>
      // target= goes last: it is the one value that may itself contain commas.
      str(
        `format=raw, vdev=${xenDisk(n)}, access=${d.ro ? "ro" : "rw"}${i.script ? `, script=${i.script}` : ""}, target=${d.file}`,
      ),
    );
    lines.push(`disk = [ ${disks.join(", ")} ]`);
  }
  return `${lines.join("\n")}\n`;
}

function xenDisk(index: number): string {
  return `xvd${String.fromCharCode(97 + index)}`;
}

/** `xl` output goes to the user only when a step fails; a whole failing command names what it ran. */
async function xl(args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await exec("xl", args, { check: false, timeoutMs });
  if (r.code !== 0) {
    throw new KilnError(
      "KILN_EHYPERVISOR_FAILED",
      `xl ${args.join(" ")} failed (status ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-4).join(" ")}`,
      "Read xl's message; `xl list` shows the domains, `xl dmesg` the hypervisor's log.",
    );
  }
  return r.stdout;
}

/**
 * Xen's console client: beside xl in Debian's versioned directory for the running hypervisor
 * (/usr/lib/xen-4.17/bin, as Debian's xl wrapper chooses), else where upstream installs it, else on PATH.
 */
async function xenconsole(): Promise<string> {
  const { access, readFile } = await import("node:fs/promises");
  const v = async (f: string) =>
    (await readFile(`/sys/hypervisor/version/${f}`, "utf8").catch(() => "")).trim();
  const [major, minor] = await Promise.all([v("major"), v("minor")]);
  for (const c of [
    ...(major && minor ? [`/usr/lib/xen-${major}.${minor}/bin/xenconsole`] : []),
    "/usr/lib/xen/bin/xenconsole",
    "/usr/libexec/xen/bin/xenconsole",
  ]) {
    if (
      await access(c).then(
        () => true,
        () => false,
      )
    )
      return c;
  }
  const onPath = await which("xenconsole");
  if (onPath) return onPath;
  throw new KilnError(
    "KILN_EBACKEND_UNAVAILABLE",
    "Xen's console client `xenconsole` was not found",
    "Install Xen's tools (apt-get install xen-utils), which put it beside xl.",
  );
}

/** The domain xl created for this machine, once it exists (xl create -p has made it, paused). */
async function waitDomid(domain: string, running: () => boolean, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await exec("xl", ["domid", domain], { check: false, timeoutMs: 10_000 });
    const id = Number(r.stdout.trim());
    if (r.code === 0 && Number.isInteger(id) && id > 0) return id;
    if (!running())
      throw new KilnError(
        "KILN_EHYPERVISOR_FAILED",
        `xl create ended before domain ${q(domain)} existed`,
        "Read xl's message above; `xl dmesg` shows the hypervisor's log.",
      );
    if (Date.now() - t0 > timeoutMs)
      throw new KilnError(
        "KILN_ETIMEOUT",
        `Domain ${q(domain)} did not appear within ${timeoutMs / 1000} s of xl create`,
        "The host may be overloaded; `xl list` shows what exists.",
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Whether the image's kernel can run as a PVH guest, and has the frontends the machine's devices need. */
function checkImage(spec: MachineSpec, image: Image): void {
  const m = image.manifest;
  if (m.hypervisor) {
    throw usageError(
      "KILN_EIMAGE_UNSUPPORTED",
      `Cannot run image ${q(m.name)} as a Xen guest: it is a ${m.hypervisor.name} host, which boots on a machine`,
      `Boot it with \`kiln launch qemu ${image.dir}\`, or make a disk of it (kiln image raw-bios).`,
    );
  }
  const has = (c: string) => m.components.some((x) => x.name === c);
  // Debian's kernels (both flavours) are PVH guests with the Xen console built in; a specialized kernel
  // is one only when its platform asked for it.
  if (m.kernel.kind === "specialized" && !(has("xen.pvh") && has("xen.console"))) {
    throw usageError(
      "KILN_EKERNEL_NO_XEN",
      `Cannot run image ${q(m.name)} on Xen: its specialized kernel was built for platform ${q(m.platform)}, without Xen's PVH entry and console`,
      `Bake it for Xen: kiln bake xen OUT PROGRAM --kernel specialized (or --component xen.pvh --component xen.console).`,
    );
  }
  if (spec.disks.length > 0 && !has("xen.blkfront"))
    throw usageError(
      "KILN_EIMAGE_NO_DRIVER",
      `Cannot attach disks to image ${q(m.name)} on Xen: it has no Xen block frontend (xen.blkfront)`,
      "Bake it for the xen platform, or add --component xen.blkfront.",
    );
  if (spec.net.kind !== "none" && !has("xen.netfront"))
    throw usageError(
      "KILN_EIMAGE_NO_DRIVER",
      `Cannot attach a network to image ${q(m.name)} on Xen: it has no Xen network frontend (xen.netfront)`,
      "Bake it for the xen platform, or add --component xen.netfront.",
    );
}

export const xenDriver: Driver = {
  name: "xen",
  configVia: "xenstore",

  async probe(): Promise<ProbeResult> {
    const tool = await which("xl");
    if (!tool) {
      return {
        available: false,
        reason: "Xen is not available: `xl` not found",
        hint: "Run kiln in a Xen dom0 with the Xen tools (apt-get install xen-utils), or use --dry-run to get the xl configuration.",
      };
    }
    const info = await exec(tool, ["info"], { check: false, timeoutMs: 30_000 }).catch(() => undefined);
    if (info?.code !== 0) {
      return {
        available: false,
        reason: "Xen is not available: `xl info` failed (not running in a Xen dom0?)",
        hint: "Boot this host under the Xen hypervisor (kiln's xen-host image is one), or use --dry-run to get the xl configuration.",
      };
    }
    if (!(await which("xenstore-write"))) {
      return {
        available: false,
        reason: "Xen's xenstore tools are missing: `xenstore-write` not found",
        hint: "Install them: apt-get install xenstore-utils.",
      };
    }
    return { available: true };
  },

  cmdlineFor(): CmdlineParts {
    // A PVH guest's console is the Xen console, hvc0; kiln.xs=1 tells kiln-init to read xenstore.
    return { override: ["console=hvc0", "kiln.xs=1"], ifAbsent: [] };
  },

  diskDevice: xenDisk,

  check(spec, image) {
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
    if (image.manifest) checkImage(spec, image);
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
      ...(ctx.spec.disks.length > 0 || ctx.spec.net.kind === "bridge"
        ? { script: await hotplugScript(undefined, !ctx.dryRun) }
        : {}),
    });
    // What runs: `xl create -p` (create), the configuration into xenstore, xenconsole following the
    // console, and only once it does (its notify fd) `xl unpause`: no early line is lost. The command
    // shown is what a person would type; create() replaces it with xenconsole on the new domain.
    return {
      backend: "xen",
      command: ["xl", "create", "-c", cfgPath],
      files: [{ name: XL_CONFIG, content }],
      warnings: [],
      daemonizes: false,
      detachSelf: true,
      readyFd: true,
    };
  },

  async create(ctx) {
    const domain = `kiln-${ctx.name}`;
    await xl(["create", "-p", join(ctx.dir, XL_CONFIG)], 300_000);
    try {
      const id = await waitDomid(domain, ctx.running);
      if (ctx.config) {
        const pairs = xenstoreConfig(id, ctx.config);
        const r = await exec("xenstore-write", ["-R", ...pairs.flat()], { check: false, timeoutMs: 30_000 });
        if (r.code !== 0)
          throw new KilnError(
            "KILN_EHYPERVISOR_FAILED",
            `Cannot write the configuration of domain ${q(domain)} into xenstore: ${r.stderr.trim() || `status ${r.code}`}`,
            "Check that xenstored runs in this dom0 (xenstore-ls /local/domain).",
          );
      }
      return {
        command: [await xenconsole(), String(id), "--type", "pv", "--start-notify-fd", "3"],
      };
    } catch (e) {
      await exec("xl", ["destroy", domain], { check: false, timeoutMs: 60_000 }).catch(() => undefined);
      throw e;
    }
  },

  async started(ctx) {
    await ctx.ready;
    await xl(["unpause", `kiln-${ctx.name}`]);
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
  refuseLibvirtNetwork(spec, what);
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
  if ((spec.moreNets?.length ?? 0) > 0) {
    throw usageError(
      "KILN_ENET_UNSUPPORTED",
      `Cannot attach ${1 + spec.moreNets!.length} networks with ${what}: kiln attaches one`,
      "Give one --net, or launch the image under QEMU (kiln launch qemu), which attaches several.",
    );
  }
  if (spec.net.kind === "socket") {
    throw usageError(
      "KILN_ENET_UNSUPPORTED",
      `Cannot use a socket link (--net socket:${spec.net.link.mode}=${spec.net.link.addr}) with ${what}: it is a QEMU feature`,
      "Launch the image under QEMU (kiln launch qemu), or join machines through a bridge or tap.",
    );
  }
}
