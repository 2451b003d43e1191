import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { type CommonOpts, cliState, progressFor, rendered, report, table, withCommon } from "../context.js";

interface BakeCliOpts extends CommonOpts {
  kernel?: string;
  add: string[];
  config?: string;
  firewall?: string;
  cmdline?: string;
  catalogue: string[];
  component: string[];
  name?: string;
  list?: boolean;
  describe?: string;
  policy?: string;
  allowLicenseViolations?: boolean;
  force?: boolean;
  shell?: boolean;
  include: string[];
}

const collect = (v: string, prev: string[]) => [...prev, v];

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

export function register(program: Command): void {
  withCommon(
    program
      .command("bake")
      .description("put a platform's kernel components together with programs: a bootable image directory")
      .argument(
        "[platform]",
        "platform (component set): qemu, microvm, router, firecracker, xen, xen-host, ec2, hw, or one from -c",
      )
      .argument("[out]", "image directory to write (kernel, initrd, manifest.json)")
      .argument(
        "[programs...]",
        "programs built with the kiln toolchain; the first is main, none makes a kernel-plane image",
      )
      .option(
        "--kernel <kind>",
        "stock (Debian's kernel: the cloud flavour, or the generic one where the platform needs it) or specialized (built for the platform); default: the specialized kernel when one is built for what the image needs, else stock",
      )
      .option("--add <src:dest>", "add a file or directory to the image (repeatable)", collect, [])
      .option("--config <file>", "boot configuration (JSON) baked into the image")
      .option(
        "--firewall <rules.nft>",
        "an nftables ruleset, checked now with Debian's nft and loaded by it at boot before anything runs (adds the nf.* components)",
      )
      .option("--cmdline <args>", "extra kernel command line")
      .option(
        "-c, --catalogue <file>",
        "extra platform/component definitions (TOML, repeatable)",
        collect,
        [],
      )
      .option("--component <name>", "add a component to the platform's set (repeatable)", collect, [])
      .option("--name <name>", "image name (default: the main program's name)")
      .option(
        "--policy <kiln.toml>",
        "fail when a part's licence breaks this file's [policy] allow/deny lists",
      )
      .option("--allow-license-violations", "bake despite policy violations, recording them in the manifest")
      .option("--force", "replace what is at OUT even if it is not an image kiln wrote")
      .option(
        "--shell",
        "put Debian's dash in the image as /bin/sh, for programs that run commands through one",
      )
      .option(
        "--include <path>",
        "a file, directory or glob (*, ?, **) from the deb: programs' packages, beyond what kiln finds (repeatable)",
        collect,
        [],
      )
      .option("--list", "list the platforms")
      .option("--describe <platform>", "show what a platform's components resolve to on the kernel in use")
      .addHelpText(
        "after",
        "\nExamples:\n  kiln bake qemu out/hello examples/hello/hello\n  kiln bake qemu out/web httpd --add ./site:/srv/www --config web.json\n  kiln bake --describe qemu\n  kiln bake qemu out/router   # kernel plane: no program\n  kiln bake qemu out/router --config router.json --firewall rules.nft",
      ),
  ).action(
    async (platform: string | undefined, out: string | undefined, programs: string[], opts: BakeCliOpts) => {
      const catalogueOpts = { extraFiles: opts.catalogue };
      if (opts.list) {
        const { listPlatforms } = await import("../../components/resolve.js");
        const list = await listPlatforms(catalogueOpts);
        return report(opts, list, (l) =>
          table([
            ["platform", "kernel", "components", "description"],
            ...l.map((p) => [p.name, p.flavour, p.components.join(","), p.description]),
          ]),
        );
      }
      if (opts.describe) {
        const { describePlatform } = await import("../../components/resolve.js");
        // With --component or --firewall: what those add (the netfilter modules, in load order).
        const { FIREWALL_COMPONENTS } = await import("../../bake/bake.js");
        const extra = [...opts.component, ...(opts.firewall ? FIREWALL_COMPONENTS : [])];
        const d = await describePlatform(opts.describe, {
          ...catalogueOpts,
          ...(extra.length ? { components: [...new Set(extra)] } : {}),
        });
        return report(opts, d, describeText);
      }
      if (!platform || !out) {
        throw usageError(
          "KILN_EUSAGE",
          "bake needs a PLATFORM and an OUT directory",
          "Run `kiln bake qemu out/hello ./hello`, or `kiln bake --list`.",
        );
      }
      if (opts.kernel !== undefined && opts.kernel !== "stock" && opts.kernel !== "specialized") {
        throw usageError(
          "KILN_EKERNEL_KIND",
          `Unknown kernel kind "${opts.kernel}"`,
          "Use --kernel stock or --kernel specialized.",
        );
      }
      const { isPackageSpec } = await import("../../run/programSpec.js");
      // Bakes that resolve Debian packages are not remembered: a mirror's index changes off this disk
      // (--shell and --firewall bring Debian's dash and nft).
      const memoable =
        !programs.some(isPackageSpec) && !opts.firewall && !opts.shell && opts.include.length === 0;
      // An unchanged bake was answered before the CLI loaded (src/cli/entry.ts); this one bakes.
      const { bakeKey, rememberBake } = await import("../../bake/bakeMemo.js");
      const key = memoable ? bakeKey(cliState.words) : undefined;
      const { trackReads } = await import("../../core/readTracker.js");
      const stop = key ? trackReads() : undefined;
      let made: Awaited<ReturnType<typeof bakeNow>>;
      let tracked: import("../../core/readTracker.js").Tracked | undefined;
      try {
        made = await bakeNow(platform, out, programs, opts);
      } finally {
        tracked = stop?.();
      }
      report(opts, made.result, bakeText);
      if (key && tracked && made.memoable) {
        const stdout = rendered(opts, { ...made.result, upToDate: true }, bakeText);
        await rememberBake(key, out, tracked, { stdout, stderr: made.notice }).catch(() => undefined);
      }
    },
  );
}

type BakeReport = Awaited<ReturnType<typeof bakeNow>>["result"];

/**
 * The whole bake as asked on the command line: its result, the kernel notice it showed, and whether it may be
 * remembered.
 */
async function bakeNow(platform: string, out: string, programs: string[], opts: BakeCliOpts) {
  const { bake, parseAdd } = await import("../../bake/bake.js");
  const { isPackageSpec, resolveProgramSpec } = await import("../../run/programSpec.js");
  const progress = await progressFor(opts);
  const { resolvePlatformPrograms } = await import("../../run/platformPrograms.js");
  const platformPrograms = await resolvePlatformPrograms(platform, {
    catalogues: opts.catalogue,
    progress,
  });
  // deb:NAME and pkg:NAME bring their closure with them (and a recipe may ask for a shell).
  const resolved = await Promise.all(
    programs.map(async (p) =>
      isPackageSpec(p)
        ? await resolveProgramSpec(p, {
            progress,
            ...(opts.include.length ? { files: opts.include } : {}),
          })
        : p,
    ),
  );
  let firewall: { file: string; program: import("../../bake/bake.js").ProgramInput } | undefined;
  if (opts.firewall) {
    const { checkRuleset, resolveNft } = await import("../../run/firewall.js");
    const nft = await resolveNft({ progress });
    progress.step(`checking firewall ruleset ${opts.firewall}`);
    await checkRuleset(opts.firewall, nft);
    progress.done();
    firewall = { file: opts.firewall, program: nft };
  }
  const { FIREWALL_COMPONENTS } = await import("../../bake/bake.js");
  // A recipe's components (PostgreSQL's ipc.sysv) and a firewall's join the command line's.
  const components = [
    ...new Set([
      ...opts.component,
      ...resolved.flatMap((r) => (typeof r === "string" ? [] : (r.defaults?.components ?? []))),
      ...(firewall ? FIREWALL_COMPONENTS : []),
    ]),
  ];
  const { chooseKernel, kernelNotice } = await import("../../components/kernelChoice.js");
  // A platform or catalogue that cannot be read is bake's to report, in the order of its own checks.
  const kernel = await chooseKernel({
    platform,
    ...(opts.kernel === "stock" || opts.kernel === "specialized" ? { requested: opts.kernel } : {}),
    catalogues: opts.catalogue,
    components,
  }).catch(() => ({
    kind: "stock" as const,
    chosen: "default" as const,
    reason: "the platform did not resolve",
    couldSpecialize: false,
  }));
  // Shown before the bake's progress; what was shown is what its memo shows again.
  const line = kernelNotice(kernel);
  const notice = line && !opts.quiet && !opts.json ? `${line}\n` : "";
  process.stderr.write(notice);
  const shell = opts.shell || resolved.some((r) => typeof r !== "string" && r.defaults?.shell);
  const { resolveShell } = await import("../../run/shellTool.js");
  const baked = await bake({
    platform,
    out,
    platformPrograms,
    ...(shell ? { tools: [await resolveShell({ progress })] } : {}),
    programs: resolved.map((r) => (typeof r === "string" ? r : r.input)),
    kernel: kernel.kind,
    add: opts.add.map(parseAdd),
    ...(opts.config ? { configFile: opts.config } : {}),
    ...(firewall ? { firewall } : {}),
    ...(opts.cmdline ? { cmdline: opts.cmdline } : {}),
    catalogues: opts.catalogue,
    components,
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.policy ? { policyFile: opts.policy } : {}),
    allowLicenseViolations: opts.allowLicenseViolations ?? false,
    ...(opts.force ? { force: true } : {}),
    progress,
  });
  return {
    result: { ...baked, kernel, upToDate: false },
    notice,
    // What the caller could not tell before: a platform's own programs come from Debian packages too.
    memoable: platformPrograms.length === 0,
  };
}

/** A bake for people; one the memo answered says so, since nothing was written. */
function bakeText(x: BakeReport & { upToDate: boolean }): string {
  return [
    `baked ${x.manifest.name} for ${x.manifest.platform} into ${x.out}${x.upToDate ? " (up to date: nothing it reads changed since)" : ""}`,
    ...(x.manifest.hypervisor
      ? [
          `  hypervisor ${x.manifest.hypervisor.name} ${x.manifest.hypervisor.version} (${mb(x.manifest.hypervisor.size)})`,
        ]
      : []),
    `  kernel  ${x.manifest.kernel.kind}${x.manifest.kernel.flavour ? ` (${x.manifest.kernel.flavour})` : ""} ${x.manifest.kernel.release} (${mb(x.sizes.kernel)})`,
    `  initrd  ${x.manifest.initrd.entries} entries, ${x.manifest.modules.length} modules (${mb(x.sizes.initrd)})`,
    `  programs ${x.manifest.programs.map((p) => p.path).join(", ") || "(none: kernel plane)"}`,
    ...(x.manifest.firewall
      ? [`  firewall ${x.manifest.firewall.path} (loaded by ${x.manifest.firewall.nft} before anything runs)`]
      : []),
  ].join("\n");
}

/** `bake --describe` for people: what each component is on the stock kernel, and the modules a bake loads. */
function describeText(d: import("../../components/resolve.js").PlatformDescription): string {
  const k = d.kernel;
  const lines = [
    `platform  ${d.platform}: ${d.description}`,
    ...(d.include.length ? [`includes  ${d.include.join(", ")}`] : []),
    k
      ? `kernel    ${d.flavour}: ${k.release} (${k.package} ${k.version})`
      : `kernel    ${d.flavour}: none fetched: run \`kiln components fetch${d.flavour === "cloud" ? "" : ` --flavour ${d.flavour}`}\` to resolve the components on Debian's kernel`,
    ...(d.hypervisor ? [`hypervisor ${d.hypervisor.name} (${d.hypervisor.package})`] : []),
    "",
    table([
      ["component", "stock kernel", "modules", "description"],
      ...d.components.map((c) => [
        c.name,
        c.how === "unavailable" ? `unavailable (missing ${c.missing.join(", ")})` : c.how,
        [...c.modules, ...c.builtinModules.map((m) => `${m} (built in)`)].join(", ") || "-",
        c.description,
      ]),
    ]),
  ];
  if (d.modules.length) {
    const kb = Math.round(d.modules.reduce((n, m) => n + m.size, 0) / 1024);
    lines.push("", `modules a stock bake loads, in order (${d.modules.length}, ${kb} KiB):`);
    lines.push(`  ${d.modules.map((m) => m.name).join(" ")}`);
  }
  lines.push(
    "",
    `specialized kernel: tinyconfig + ${d.kconfig.length} Kconfig symbols (kiln components build ${d.platform})`,
  );
  return lines.join("\n");
}
