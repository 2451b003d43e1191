import type { Command } from "commander";
import { q, usageError } from "../../core/errors.js";
import { type CommonOpts, progressFor, report, table, withCommon } from "../context.js";

interface ImageCliOpts extends CommonOpts {
  out?: string;
  size?: string;
  name?: string;
  cmdline?: string;
  hypervisorCmdline?: string;
  net?: string;
  list?: boolean;
  force?: boolean;
  ref?: string;
  publish?: string[];
  boot?: string;
}

function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function register(program: Command): void {
  withCommon(
    program
      .command("image")
      .description(
        "make a launchable from a baked image: a bootable disk, ISO, cloud image, OCI artifact or .deb",
      )
      .argument(
        "[format]",
        "raw-bios, raw-uefi, raw, iso, qcow2, vmdk, vhd, gce, oci, containerdisk, deb, libvirt, kubevirt, nomad (--list)",
      )
      .argument("[image]", "the image directory `kiln bake` wrote")
      .option("-o, --out <file>", "the file to write (atomically; an earlier output of kiln's is replaced)")
      .option("--force", "replace what is at OUT even if kiln did not write it")
      .option("--size <MB>", "disk size in MiB for disk formats (default: just big enough; gce: whole GiB)")
      .option(
        "--name <name>",
        "name carried by the format (ISO volume id, package name); default the image's",
      )
      .option("--cmdline <args>", "extra kernel command line, after the image's own")
      .option(
        "--hypervisor-cmdline <args>",
        "extra hypervisor command line for an image that boots under one (xen-host), after its own; default dom0_mem=1024M,max:1024M unless it sets dom0_mem",
      )
      .option(
        "--net <how>",
        "dhcp: eth0 asks the network for an address; none: only the image's own configuration (default: dhcp for gce and vhd when the image configures no network, else none)",
      )
      .option(
        "--ref <REGISTRY/NAME:TAG>",
        "kubevirt, nomad: where `kiln push` puts the machine's disk (the output pins its digest)",
      )
      .option("-p, --publish <PORT>", "kubevirt, nomad: a guest TCP port to publish (repeatable)", collect)
      .option(
        "--boot <kernel|disk>",
        "kubevirt: boot the kernel from a container (KubeVirt's kernel boot, default) or the containerDisk",
      )
      .option("--list", "list the formats")
      .addHelpText(
        "after",
        "\nExamples:\n  kiln image raw-bios out/hello -o hello.img\n  kiln image raw-uefi out/hello -o hello-uefi.img --size 64\n  kiln image iso out/hello -o hello.iso\n  kiln image raw-bios out/xen-host -o host.img --hypervisor-cmdline dom0_mem=4096M,max:4096M\n  kiln image gce out/hello -o hello.tar.gz\n  kiln image qcow2 out/web -o web.qcow2 --net dhcp\n  kiln image libvirt out/hello -o hello.xml\n  kiln image kubevirt out/web --ref registry.example.com/vms/web:1 -p 8080 -o web-vm.json\n  kiln image nomad out/web --ref registry.example.com/vms/web:1 -p 8080 -o web-job.json\n  kiln image --list",
      ),
  ).action(async (format: string | undefined, image: string | undefined, opts: ImageCliOpts) => {
    if (opts.list) {
      const { listFormats } = await import("../../image/makeLaunchable.js");
      const list = await listFormats();
      return report(opts, list, (l) =>
        table([["format", "description"], ...l.map((f) => [f.name, f.description])]),
      );
    }
    if (!format || !image || !opts.out) {
      throw usageError(
        "KILN_EUSAGE",
        "image needs a FORMAT, an IMAGE directory and -o OUT",
        "Run `kiln image raw-bios out/hello -o hello.img`, or `kiln image --list`.",
      );
    }
    let sizeMB: number | undefined;
    if (opts.size !== undefined) {
      sizeMB = Number(opts.size);
      if (!/^\d+$/.test(opts.size) || !Number.isSafeInteger(sizeMB) || sizeMB <= 0) {
        throw usageError(
          "KILN_ESIZE_INVALID",
          `Cannot use --size ${q(opts.size)}: not a whole number of MiB`,
          "Give --size as a positive integer, like --size 64.",
        );
      }
    }
    const { parseLaunchableNet } = await import("../../image/launchableNet.js");
    const net = opts.net === undefined ? undefined : parseLaunchableNet(opts.net);
    const ports = (opts.publish ?? []).map((p) => {
      if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535)
        throw usageError(
          "KILN_EBAD_PORT",
          `Cannot publish port ${q(p)}`,
          "Give a guest TCP port from 1 to 65535: -p 8080.",
        );
      return Number(p);
    });
    if (opts.boot !== undefined && opts.boot !== "kernel" && opts.boot !== "disk")
      throw usageError("KILN_EBAD_BOOT", `Cannot boot ${q(opts.boot)}`, "Give --boot kernel or --boot disk.");
    const { makeLaunchable } = await import("../../image/makeLaunchable.js");
    const r = await makeLaunchable({
      format,
      image,
      out: opts.out,
      ...(sizeMB !== undefined ? { sizeMB } : {}),
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.cmdline ? { cmdline: opts.cmdline } : {}),
      ...(opts.hypervisorCmdline !== undefined ? { hypervisorCmdline: opts.hypervisorCmdline } : {}),
      ...(net ? { net } : {}),
      ...(opts.force ? { force: true } : {}),
      ...(opts.ref !== undefined ? { ref: opts.ref } : {}),
      ...(ports.length > 0 ? { ports } : {}),
      ...(opts.boot ? { boot: opts.boot as "kernel" | "disk" } : {}),
      progress: await progressFor(opts),
    });
    report(opts, r, (x) => {
      const push = (x.details?.push as string[] | undefined) ?? [];
      return [
        `wrote ${x.format} ${x.out} (${mb(x.size)})`,
        `  sha256 ${x.sha256}`,
        ...(push.length > 0
          ? ["  it pulls the disk these commands push:", ...push.map((c) => `    ${c}`)]
          : []),
      ].join("\n");
    });
  });
}
