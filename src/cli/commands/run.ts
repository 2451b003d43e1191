import type { Command } from "commander";
import type { LaunchOptionValues } from "../../launch/options.js";
import { type CommonOpts, progressFor, withCommon } from "../context.js";
import { guestArgs, separateGuestArgs } from "../guestArgs.js";
import { addLaunchOptions, launchAndReport, refuseDetachedTimeline } from "./launch.js";

type Opts = LaunchOptionValues &
  CommonOpts & {
    platform?: string;
    kernel?: string;
    add: string[];
    config?: string;
    cmdline?: string;
    program?: string;
    backend?: string;
    shell?: boolean;
    include: string[];
    firewall?: string;
  };

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  const cmd = program
    .command("run")
    .description("build, bake and launch in one step: source (or a built program) to a running VM")
    .argument(
      "<target>",
      "a .c file, a project directory (configure, CMakeLists.txt, meson.build, Makefile) or a program",
    )
    .argument("[args...]", "after --: arguments for the program (replace the baked ones)")
    .usage("[options] TARGET [-- ARGS...]")
    .option("--platform <name>", "platform to bake for (default: qemu, or [image] platform in kiln.toml)")
    .option(
      "--kernel <kind>",
      "stock or specialized (default: the specialized kernel when one is built for the platform, else stock)",
    )
    .option("--add <src:dest>", "add a file or directory to the image (repeatable)", collect, [])
    .option("--config <file>", "boot configuration (JSON) baked into the image")
    .option("--cmdline <args>", "extra kernel command line")
    .option(
      "--program <name>",
      "which program to run when the build makes several, or which of a deb: package's (its path: /usr/sbin/NAME)",
    )
    .option("--backend <name>", "qemu (default), xen or firecracker")
    .option(
      "--shell",
      "put Debian's dash in the image as /bin/sh, for programs that run commands through one",
    )
    .option(
      "--firewall <rules.nft>",
      "bake this nftables ruleset in, loaded before anything runs (as kiln bake --firewall; over [image] firewall)",
    )
    .option(
      "--include <path>",
      "a file, directory or glob (*, ?, **) from a deb: program's packages, beyond what kiln finds (repeatable)",
      collect,
      [],
    )
    .addHelpText(
      "after",
      "\nkiln's options go anywhere before --, before or after TARGET; only the words after -- go to the program.\n\nExamples:\n  kiln run examples/hello\n  kiln run deb:redis-server -p 16379:6379\n  kiln run examples/httpd -p 18080:8080\n  kiln run hello.c -- --greeting hi\n  kiln run examples/kv -p 17000:7000 -b kv.img,/data",
    );
  withCommon(addLaunchOptions(separateGuestArgs(cmd))).action(
    async (target: string, rest: string[], opts: Opts, self: Command) => {
      const args = guestArgs(self, target, rest);
      const { usageError } = await import("../../core/errors.js");
      if (opts.kernel !== undefined && opts.kernel !== "stock" && opts.kernel !== "specialized") {
        throw usageError(
          "KILN_EKERNEL_KIND",
          `Unknown kernel kind "${opts.kernel}"`,
          "Use --kernel stock or --kernel specialized.",
        );
      }
      // Bad launch options are refused before the build and the bake, which can take minutes; the project's
      // defaults (kiln.toml [image]) are checked with them once the build has read them.
      const { specFromOptions } = await import("../../launch/options.js");
      const { driverFor } = await import("../../launch/drivers/index.js");
      driverFor(opts.backend ?? "qemu");
      refuseDetachedTimeline(opts);
      const { checkHostFiles } = await import("../../launch/launch.js");
      await checkHostFiles(specFromOptions(target, args, opts));
      const { parseAdd } = await import("../../bake/bake.js");
      const { prepareRun } = await import("../../run/prepareRun.js");
      const progress = await progressFor(opts);
      const prepared = await prepareRun({
        target,
        ...(opts.platform ? { platform: opts.platform } : {}),
        ...(opts.kernel ? { kernel: opts.kernel } : {}),
        add: opts.add.map(parseAdd),
        ...(opts.config ? { configFile: opts.config } : {}),
        ...(opts.cmdline ? { cmdline: opts.cmdline } : {}),
        ...(opts.program ? { program: opts.program } : {}),
        ...(opts.shell ? { shell: true } : {}),
        ...(opts.include.length ? { include: opts.include } : {}),
        ...(opts.firewall ? { firewall: opts.firewall } : {}),
        progress,
      });
      if (!opts.quiet && !opts.json) {
        const { kernelNotice } = await import("../../components/kernelChoice.js");
        const line = kernelNotice(prepared.kernel);
        if (line) process.stderr.write(`${line}\n`);
      }
      // Shown once: as a line, or as the `hint` field of --json (which -q does not silence).
      if (prepared.hint && (opts.json || !opts.quiet)) {
        if (!opts.json) process.stderr.write(`${prepared.hint}\n`);
        const { markFastPathHintShown } = await import("../../run/fastPathHint.js");
        await markFastPathHintShown();
      }
      const d = prepared.defaults;
      const spec = specFromOptions(prepared.image, args ?? d?.args, {
        ...opts,
        ...(opts.memory === undefined && d?.memory ? { memory: String(d.memory) } : {}),
        // The recipe's host:guest forwards apply when the command line gives none.
        ...(!opts.publish?.length && d?.ports?.some((p) => String(p).includes(":"))
          ? { publish: (d.ports ?? []).map(String).filter((p) => p.includes(":")) }
          : {}),
        env: [...Object.entries(d?.env ?? {}).map(([k, v]) => `${k}=${v}`), ...(opts.env ?? [])],
        // A project's [image] user (a deb: recipe's is baked in, and not among these defaults): -u wins.
        ...(opts.user === undefined && d?.user ? { user: d.user } : {}),
      });
      await launchAndReport(spec, opts.backend ?? "qemu", opts, progress, (r) => ({ ...prepared, ...r }));
    },
  );
}
