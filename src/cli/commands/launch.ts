import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import type { Progress } from "../../core/progress.js";
import type { LaunchResult } from "../../launch/launch.js";
import type { MachineSpec } from "../../launch/machine.js";
import type { LaunchOptionValues } from "../../launch/options.js";
import { type CommonOpts, cliState, progressFor, report, withCommon } from "../context.js";
import { guestArgs, separateGuestArgs } from "../guestArgs.js";

const BACKEND_HELP: Record<string, string> = {
  qemu: "boot an image under QEMU (microvm by default; KVM when it works here, else software emulation)",
  xen: "boot an image as a Xen PVH guest with `xl create` (or print its xl configuration with --dry-run)",
  firecracker: "boot an image under Firecracker (or print its JSON configuration with --dry-run)",
  libvirt:
    "run an image as a libvirt domain, on this host or any libvirt reaches (--connect qemu+ssh://HOST/system)",
};

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

/** The machine options `kiln launch` and `kiln run` share. Parse the values with specFromOptions(). */
export function addLaunchOptions(cmd: Command): Command {
  return cmd
    .option(
      "-M, --memory <MB>",
      "memory in megabytes (or 1G); default: what the image's kernel and initrd need, plus 48 MiB for the program",
    )
    .option("--cpus <N>", "virtual CPUs")
    .option("-e, --env <NAME=VALUE>", "environment variable for the program (repeatable)", collect)
    .option(
      "-u, --user <NAME|UID[:GROUP]>",
      "run the program as this user of the image (default: root, or the recipe's user)",
    )
    .option(
      "-b, --disk <FILE[,/MOUNT][,ro]>",
      "attach a raw disk image, mounted at /MOUNT (repeatable)",
      collect,
    )
    .option(
      "-p, --publish <[ADDR:]HOST:GUEST[/udp]>",
      "forward a host port to the guest (repeatable); it listens on 127.0.0.1 unless ADDR says otherwise (-p 0.0.0.0:8080:80 for every address)",
      collect,
    )
    .option(
      "--share <DIR:/MOUNT[:ro][:cache]>",
      "share a host directory (needs a kernel with 9p); :cache lets the guest cache it (fast; blind to host changes meanwhile)",
      collect,
    )
    .option(
      "--net <SPEC>",
      "a NIC (repeatable: eth0, eth1... in order): user, none, tap:NAME, bridge:NAME, socket:listen=ADDR:PORT, socket:connect=ADDR:PORT or socket:mcast=GROUP:PORT (VM-to-VM links), each with [,ip=CIDR|dhcp|none,gw=IP,mac=MAC,mtu=N]",
      collect,
    )
    .option("--machine <TYPE>", "QEMU machine type: microvm (default), q35 or pc")
    .option("--accel <ACCEL>", "QEMU accelerator: auto (default), kvm or tcg")
    .option("-d, --detach", "run in the background (see kiln ps, logs, stop, rm)")
    .option("-i, --interactive", "pass this terminal's input to the guest console")
    .option("--name <NAME>", "machine name (default: the image name and a random suffix)")
    .option("-D, --gdb <PORT>", "open a gdb stub on this TCP port of 127.0.0.1")
    .option(
      "--cold",
      "boot the kernel from the start instead of restoring the image's saved boot state (QEMU saves one on an image's first launch per machine shape)",
    )
    .option(
      "--keep",
      "keep a foreground machine's state when it ends (kiln ps, kiln logs) until kiln rm; detached machines are always kept",
    )
    .option("--rm", "remove the machine's state when it ends (the default in the foreground)")
    .option(
      "--timeline",
      "after the program exits, print one line per stage (kiln, QEMU, kernel, init, modules, network, program, exit) with its time",
    );
}

/**
 * IMAGE as `kiln launch` takes it: an image directory, or a launchable file (`kiln image`'s disk or ISO)
 * that QEMU boots through its firmware.
 */
async function machineSpec(image: string, args: string[] | undefined, opts: Opts): Promise<MachineSpec> {
  const { launchableSpec, specFromOptions } = await import("../../launch/options.js");
  const spec = specFromOptions(image, args, opts);
  const { stat } = await import("node:fs/promises");
  const st = await stat(spec.image).catch(() => undefined);
  if (st?.isFile()) {
    const { qemuArgsForLaunchable } = await import("../../image/bootLaunchable.js");
    const medium = await qemuArgsForLaunchable(spec.image, { uefi: opts.uefi === true });
    return launchableSpec(spec, medium, opts);
  }
  if (opts.uefi) {
    const { q, usageError } = await import("../../core/errors.js");
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `Cannot use --uefi with image ${q(image)}: it is not a launchable file`,
      "--uefi picks the firmware for a disk made by kiln image (kiln launch qemu --uefi hello.img); an image directory boots its kernel directly.",
    );
  }
  return spec;
}

/** Stop the machine on Ctrl-C or SIGTERM; returns the signal's exit status once one came. */
export function interruptOnSignals(ac: AbortController): { dispose(): void; status(): number | undefined } {
  let got: number | undefined;
  const on = (sig: NodeJS.Signals, status: number) => {
    const h = () => {
      got ??= status;
      ac.abort();
    };
    process.on(sig, h);
    return () => process.off(sig, h);
  };
  const offs = [on("SIGINT", 130), on("SIGTERM", 143), on("SIGHUP", 129)];
  return {
    dispose: () => {
      for (const f of offs) f();
    },
    status: () => got,
  };
}

type Opts = LaunchOptionValues & CommonOpts & { dryRun?: boolean; firewall?: string };

async function action(backend: string, image: string, args: string[] | undefined, opts: Opts): Promise<void> {
  const spec = await machineSpec(image, args, opts);
  if (opts.firewall) {
    // Checked with Debian's nft, as bake does, before anything boots (src/run sits above launch).
    const { checkRuleset, resolveNft } = await import("../../run/firewall.js");
    const progress = await progressFor(opts);
    const nft = await resolveNft({ progress });
    progress.step(`checking firewall ruleset ${opts.firewall}`);
    await checkRuleset(opts.firewall, nft);
    progress.done();
  }
  const { dryRun } = await import("../../launch/launch.js");
  if (opts.dryRun) {
    const r = await dryRun(spec, { backend });
    report(opts, r, (d) => {
      const parts = d.warnings.map((w) => `# warning: ${w}`);
      for (const f of d.files) parts.push(`# ${f.path}`, f.content.trimEnd(), "");
      parts.push(`# command`, d.command.map(shellQuote).join(" "));
      return parts.join("\n");
    });
    return;
  }
  await launchAndReport(spec, backend, opts, await progressFor(opts), (r, attached) =>
    attached ? r : r.machine,
  );
}

/** A timeline needs kiln there until the program ends: refused before anything is built or started. */
export function refuseDetachedTimeline(opts: { timeline?: boolean; detach?: boolean }): void {
  if (opts.timeline && opts.detach) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      'Cannot use "--timeline" with "--detach": a detached machine\'s program ends after kiln has returned',
      "Run it in the foreground to see its timeline (kiln logs shows a detached machine's console).",
    );
  }
}

/**
 * Run a machine for a verb (launch, run): the console on stdout (stderr with --json), the program's status
 * as kiln's for an attached machine (the signal's on Ctrl-C), the machine's name for a detached one.
 * `result` shapes what --json prints.
 */
export async function launchAndReport<T extends object>(
  spec: MachineSpec,
  backend: string,
  opts: CommonOpts & { timeline?: boolean },
  progress: Progress,
  result: (r: LaunchResult, attached: boolean) => T,
): Promise<void> {
  const { launch } = await import("../../launch/launch.js");
  const attached = spec.console === "attached";
  refuseDetachedTimeline({ ...opts, detach: !attached });
  const ac = new AbortController();
  const signals = interruptOnSignals(ac);
  try {
    const consoleOut = opts.json ? process.stderr : process.stdout;
    const { hideDebugLines } = await import("../../launch/hideDebugLines.js");
    const shown = hideDebugLines((b) => consoleOut.write(b));
    const r = await launch(spec, {
      backend,
      progress,
      signal: ac.signal,
      ...(attached ? { onConsole: opts.timeline ? shown.feed : (b: Buffer) => consoleOut.write(b) } : {}),
      ...(opts.timeline ? { timeline: true } : {}),
    });
    shown.end();
    if (!opts.json) for (const w of r.warnings) process.stderr.write(`kiln: warning: ${w}\n`);
    if (attached) {
      cliState.exitCode = r.interrupted ? (signals.status() ?? 130) : r.status;
      const { events, ...rest } = r;
      const { buildTimeline, timelineText } = await import("../../launch/timeline.js");
      const timeline = events ? buildTimeline(events, performance.now()) : undefined;
      if (opts.json) report(opts, { ...result(rest, true), ...(timeline ? { timeline } : {}) }, () => "");
      else if (timeline) process.stderr.write(`${timelineText(timeline)}\n`);
    } else {
      report(opts, result(r, false), () => r.machine.name);
    }
  } finally {
    signals.dispose();
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function register(program: Command): void {
  const launchCmd = program
    .command("launch")
    .description("boot an image as a machine: kiln launch BACKEND [options] IMAGE [-- ARGS]")
    .enablePositionalOptions()
    .argument("[backend]", "qemu, xen, firecracker or libvirt")
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      "after",
      "\nExamples:\n  kiln launch qemu ./hello.img\n  kiln launch qemu -p 8080:80 -e GREETING=hi -d --name web ./httpd.img\n  kiln launch xen --dry-run ./hello.img",
    )
    .action(async (backend: string | undefined) => {
      const { driverFor } = await import("../../launch/drivers/index.js");
      if (backend === undefined) {
        const { usageError } = await import("../../core/errors.js");
        throw usageError(
          "KILN_EBACKEND_MISSING",
          "Cannot launch without a backend",
          "Name one: kiln launch qemu IMAGE (or xen, firecracker, libvirt).",
        );
      }
      driverFor(backend); // throws KILN_EBACKEND_UNKNOWN
    });
  for (const backend of ["qemu", "xen", "firecracker", "libvirt"]) {
    const sub = launchCmd
      .command(backend)
      .description(BACKEND_HELP[backend]!)
      .argument(
        "<image>",
        backend === "qemu"
          ? "image directory written by kiln bake, or a disk or ISO written by kiln image"
          : "image directory written by kiln bake",
      )
      .argument("[args...]", "after --: arguments for the program (replace the baked ones)")
      .usage("[options] IMAGE [-- ARGS...]")
      .option("--dry-run", "print the configuration and command instead of running them");
    if (backend === "libvirt") {
      sub.option(
        "--connect <URI>",
        "libvirt connection URI: qemu:///system (default), qemu+ssh://root@HOST/system, ...",
      );
    }
    if (backend === "qemu") {
      sub.option(
        "--uefi",
        "boot a launchable that boots both ways (raw, qcow2, vmdk, vhd, iso) with UEFI (OVMF)",
      );
      sub.option(
        "--firewall <rules.nft>",
        "load this nftables ruleset instead of the baked one (the image must be baked with --firewall, which brings nft); checked first",
      );
    }
    sub.addHelpText(
      "after",
      `\nkiln's options go anywhere before --, before or after IMAGE; only the words after -- go to the program.${
        backend === "qemu"
          ? "\nA launchable file boots through its firmware (SeaBIOS, or OVMF for UEFI) with the configuration baked\ninto it: -e, program arguments, mount points and network addresses cannot reach it (-p forwards reach\nit when its image was baked with a network configuration: kiln bake --config)."
          : ""
      }\n\nExamples:\n  kiln launch ${backend} ${backend === "qemu" ? "-M 256 -p 8080:80 " : "--dry-run "}./hello.img -- --greeting hi${
        backend === "qemu" ? "\n  kiln launch qemu hello-uefi.img   # a launchable from kiln image" : ""
      }`,
    );
    withCommon(addLaunchOptions(separateGuestArgs(sub))).action(
      (image: string, rest: string[], opts: Opts, cmd: Command) =>
        action(backend, image, guestArgs(cmd, image, rest), opts),
    );
  }
}
