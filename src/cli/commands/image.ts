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
        "raw-bios, raw-uefi, raw, iso, qcow2, vmdk, vhd, gce, oci, containerdisk, deb (--list)",
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
      .option("--list", "list the formats")
      .addHelpText(
        "after",
        "\nExamples:\n  kiln image raw-bios out/hello -o hello.img\n  kiln image raw-uefi out/hello -o hello-uefi.img --size 64\n  kiln image iso out/hello -o hello.iso\n  kiln image raw-bios out/xen-host -o host.img --hypervisor-cmdline dom0_mem=4096M,max:4096M\n  kiln image gce out/hello -o hello.tar.gz\n  kiln image qcow2 out/web -o web.qcow2 --net dhcp\n  kiln image --list",
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
      progress: await progressFor(opts),
    });
    report(opts, r, (x) => `wrote ${x.format} ${x.out} (${mb(x.size)})\n  sha256 ${x.sha256}`);
  });
}
