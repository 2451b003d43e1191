import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { type CommonOpts, progressFor, report, table, withCommon } from "../context.js";

interface FetchOpts extends CommonOpts {
  force?: boolean;
  deb?: string;
  flavour?: string;
  platform?: string;
  catalogue: string[];
}

interface ListOpts extends CommonOpts {
  catalogue: string[];
  flavour?: string;
}

const FLAVOUR_HELP =
  "kernel flavour: cloud (default; small, virtio and Xen guests) or generic (Xen dom0, bare metal)";

async function flavourOpt(v: string | undefined) {
  if (v === undefined) return undefined;
  const { parseFlavour } = await import("../../components/flavour.js");
  return parseFlavour(v);
}

const collect = (v: string, prev: string[]) => [...prev, v];

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function register(program: Command): void {
  const components = program
    .command("components")
    .description(
      "the stock kernels (Debian's cloud kernel, and its generic one) and the components platforms are made of",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  kiln components fetch\n  kiln components list\n  kiln components show --json",
    );

  withCommon(
    components
      .command("fetch")
      .description(
        "download Debian's current cloud (or generic) kernel with apt, verify it, unpack and index it in the store",
      )
      .option("--force", "fetch and unpack again even if the store has it")
      .option("--flavour <flavour>", FLAVOUR_HELP)
      .option(
        "--platform <platform>",
        "what this platform needs: its kernel flavour, and its hypervisor (xen-host)",
      )
      .option(
        "-c, --catalogue <file>",
        "extra component/platform definitions (TOML, repeatable)",
        collect,
        [],
      )
      .option(
        "--deb <file>",
        "import this kernel .deb instead of downloading (checked against apt when apt knows it)",
      )
      .addHelpText(
        "after",
        "\nExamples:\n  kiln components fetch\n  kiln components fetch --flavour generic\n  kiln components fetch --platform xen-host\n  kiln components fetch --deb linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb",
      ),
  ).action(async (opts: FetchOpts) => {
    const progress = await progressFor(opts);
    if (opts.platform) {
      if (opts.deb || opts.flavour)
        throw usageError(
          "KILN_EUSAGE",
          `Cannot use --platform with ${opts.deb ? "--deb" : "--flavour"}: the platform says which kernel it needs`,
          "Give --platform alone, or --flavour/--deb without it.",
        );
      const { fetchPlatformComponents } = await import("../../components/fetchPlatform.js");
      const r = await fetchPlatformComponents(opts.platform, {
        catalogues: opts.catalogue,
        ...(opts.force ? { force: true } : {}),
        progress,
      });
      return report(opts, r, (d) =>
        [
          `${d.platform}: ${d.flavour} kernel ${d.kernel.package} ${d.kernel.version} (${d.kernel.fetched ? "fetched" : "already in the store"})`,
          ...(d.hypervisor
            ? [
                `  hypervisor ${d.hypervisor.name}: ${d.hypervisor.package} ${d.hypervisor.version} (${d.hypervisor.fetched ? "fetched" : "already in the store"})`,
              ]
            : []),
        ].join("\n"),
      );
    }
    const { fetchStockKernel } = await import("../../components/fetchKernel.js");
    const flavour = await flavourOpt(opts.flavour);
    const r = await fetchStockKernel({
      force: opts.force,
      ...(opts.deb ? { deb: opts.deb } : {}),
      ...(flavour ? { flavour } : {}),
      progress,
    });
    report(opts, r, (d) =>
      [
        `${d.fetched ? "fetched" : "already in the store:"} ${d.package} ${d.version} (${d.flavour} kernel ${d.release})`,
        `  sha256 ${d.sha256} (${d.digestFrom === "apt" ? "as apt's index says" : "of the file; apt does not know this package"})`,
        `  ${mb(d.debSize)} package, ${mb(d.vmlinuzSize)} kernel, ${d.modules} modules (compression in the package: ${d.moduleCompression.join(", ")})`,
      ].join("\n"),
    );
  });

  withCommon(
    components
      .command("list")
      .description(
        "every component, and how it resolves on the fetched kernel (built in, module, unavailable)",
      )
      .option(
        "-c, --catalogue <file>",
        "extra component/platform definitions (TOML, repeatable)",
        collect,
        [],
      )
      .option("--flavour <flavour>", FLAVOUR_HELP)
      .addHelpText(
        "after",
        "\nExample:\n  kiln components list\n  kiln components list --flavour generic\n  kiln components list -c my-platforms.toml --json",
      ),
  ).action(async (opts: ListOpts) => {
    const { listComponents } = await import("../../components/resolve.js");
    const flavour = await flavourOpt(opts.flavour);
    const r = await listComponents({ extraFiles: opts.catalogue, ...(flavour ? { flavour } : {}) });
    report(opts, r, (d) => {
      const head = d.kernel
        ? `${d.flavour} kernel ${d.kernel.release} (${d.kernel.package} ${d.kernel.version})`
        : `no ${d.flavour} kernel fetched: run \`kiln components fetch${d.flavour === "cloud" ? "" : ` --flavour ${d.flavour}`}\` to see how components resolve`;
      const rows = d.components.map((c) => [
        c.name,
        c.how,
        c.how === "unavailable" ? `lacks ${c.missing.join(", ")}` : c.modules.join(", "),
        c.description,
      ]);
      return `${head}\n\n${table([["component", "how", "modules", "description"], ...rows])}`;
    });
  });

  withCommon(
    components
      .command("show")
      .description("a stock kernel: flavour, release, package, version, digests and sizes")
      .option("--flavour <flavour>", FLAVOUR_HELP)
      .addHelpText("after", "\nExample:\n  kiln components show\n  kiln components show --flavour generic"),
  ).action(async (opts: CommonOpts & { flavour?: string }) => {
    const { stockKernelInfo } = await import("../../components/stockKernel.js");
    const r = await stockKernelInfo(undefined, await flavourOpt(opts.flavour));
    report(opts, r, (d) =>
      table([
        ["flavour", d.flavour],
        ["release", d.release],
        ["package", `${d.package} ${d.version}`],
        ...(d.source ? [["source", d.source]] : []),
        ["sha256", `${d.sha256} (${mb(d.debSize)})`],
        ["kernel", `${d.vmlinuz.path} (${mb(d.vmlinuz.size)})`],
        ["kernel sha256", d.vmlinuz.sha256],
        [
          "modules",
          `${d.modules.count} (${mb(d.modules.size)}; in the package: ${d.modules.compression.join(", ")})`,
        ],
        ["built in", `${d.builtin} modules compiled in`],
        ["tree", d.tree],
      ]),
    );
  });

  withCommon(
    components
      .command("build")
      .description(
        "build the specialized kernel for a platform: Debian's linux-source-6.1, tinyconfig plus its components",
      )
      .argument("<platform>", "platform whose components the kernel gets built in")
      .option(
        "-c, --catalogue <file>",
        "extra platform/component definitions (TOML, repeatable)",
        (v: string, p: string[]) => [...p, v],
        [],
      )
      .addHelpText(
        "after",
        "\nExample:\n  kiln components build qemu     # minutes the first time, then cached by its .config",
      ),
  ).action(async (platform: string, opts: CommonOpts & { catalogue: string[] }) => {
    const { resolvePlatform } = await import("../../components/resolve.js");
    const { findSpecializedKernel, buildSpecializedKernel } = await import("../../components/specialized.js");
    const resolved = await resolvePlatform(platform, { extraFiles: opts.catalogue, kernel: "specialized" });
    const found = await findSpecializedKernel({ symbols: resolved.kconfig });
    const k =
      found ??
      (await buildSpecializedKernel({ symbols: resolved.kconfig, progress: await progressFor(opts) }));
    report(opts, { platform, cached: Boolean(found), ...k }, (d) =>
      table([
        ["platform", d.platform],
        ["kernel", `${d.release} (${d.cached ? "from the store" : "built now"})`],
        ["bzImage", `${d.bzImage} (${mb(d.size)})`],
        ["config sha256", d.configHash],
        ...(d.symbolsMissing.length ? [["not enabled", d.symbolsMissing.join(" ")]] : []),
      ]),
    );
  });
}
