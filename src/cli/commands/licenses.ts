import type { Command } from "commander";
import { q, usageError } from "../../core/errors.js";
import { type CommonOpts, report, table, withCommon } from "../context.js";

interface LicensesCliOpts extends CommonOpts {
  check?: boolean;
  policy?: string;
  texts?: string;
  force?: boolean;
}

export function register(program: Command): void {
  withCommon(
    program
      .command("licenses")
      .description("list the licences in an image, each with its parts; check them against a licence policy")
      .argument("<image>", "image directory written by `kiln bake`")
      .option("--check", "check against the [policy] of --policy or ./kiln.toml; exit 1 on violations")
      .option("--policy <file>", "TOML file with a [policy] table (allow/deny lists of SPDX licences)")
      .option("--texts <dir>", "also write the licence texts and Debian copyright files to DIR")
      .option("--force", "with --texts: replace DIR even if kiln did not write it")
      .addHelpText(
        "after",
        '\nExamples:\n  kiln licenses out/hello\n  kiln licenses out/hello --check --policy kiln.toml   # [policy] deny = ["GPL-3.0-or-later"]\n  kiln licenses out/hello --texts out/hello-licenses',
      ),
  ).action(async (image: string, opts: LicensesCliOpts) => {
    const { imageParts } = await import("../../compliance/sbom.js");
    const { licenseReport } = await import("../../compliance/licenseReport.js");
    const parts = await imageParts(image);
    const data: Record<string, unknown> = { ...licenseReport(parts), warnings: parts.warnings };
    if (opts.texts) {
      const { licenseTexts } = await import("../../compliance/licenseTexts.js");
      const { writeOutput } = await import("../../core/outputPath.js");
      const { mkdir, writeFile } = await import("node:fs/promises");
      const { dirname, join } = await import("node:path");
      const bundle = await licenseTexts(parts);
      const output = { kind: "dir" as const, parents: true, ...(opts.force ? { force: true } : {}) };
      await writeOutput(opts.texts, output, async (dir) => {
        for (const [name, text] of Object.entries(bundle.files)) {
          await mkdir(dirname(join(dir, name)), { recursive: true });
          await writeFile(join(dir, name), text);
        }
      });
      data.texts = { dir: opts.texts, files: Object.keys(bundle.files), missing: bundle.missing };
    }
    if (opts.check || opts.policy) {
      const { checkPolicy, loadPolicy, policyError } = await import("../../compliance/policy.js");
      const policy = await loadPolicy(opts.policy ? { file: opts.policy } : { dir: process.cwd() });
      if (!policy)
        throw usageError(
          "KILN_EPOLICY_NOT_FOUND",
          `No licence policy to check ${q(image)} against: no --policy and no kiln.toml here`,
          "Give --policy FILE, a TOML file with [policy] allow = [...] and/or deny = [...].",
        );
      const violations = checkPolicy(parts.parts, policy);
      if (violations.length) throw policyError(violations, policy);
      data.policy = { ...policy, violations };
    }
    report(opts, data, (d) => {
      const r = d as unknown as ReturnType<typeof licenseReport> & {
        policy?: { source?: string; allow?: string[]; deny?: string[] };
        texts?: { dir: string; files: string[]; missing: string[] };
      };
      const rows = r.licenses.map((g) => [
        g.license,
        String(g.parts.length),
        g.parts
          .map((p) => (p.kind === "module" ? "" : (p.path ?? p.name)))
          .filter(Boolean)
          .concat(
            g.parts.some((p) => p.kind === "module")
              ? [`${g.parts.filter((p) => p.kind === "module").length} kernel modules`]
              : [],
          )
          .join(", "),
      ]);
      let out = table([["licence", "parts", "which"], ...rows]);
      if (r.unknown)
        out += `\n\n${r.unknown} part${r.unknown === 1 ? " has" : "s have"} no known licence (NOASSERTION).`;
      if (r.texts)
        out += `\n\nWrote ${r.texts.files.length} licence and copyright files to ${r.texts.dir}${r.texts.missing.length ? `; no text found for ${r.texts.missing.join(", ")}` : ""}.`;
      if (r.policy) out += `\n\nLicence policy ${r.policy.source ?? ""}: no violations.`;
      return out;
    });
  });
}
