import type { Command } from "commander";
import { type CommonOpts, progressFor, report, table, withCommon } from "../context.js";

interface ImportOpts extends CommonOpts {
  name?: string;
}

/** Every skipped file with its reason, in the report itself (not only as warnings -q would hide). */
function skippedLines(skipped: { file: string; reason: string }[], max = 20): string[] {
  if (skipped.length === 0) return [];
  return [
    `skipped ${skipped.length} file(s):`,
    ...skipped.slice(0, max).map((s) => `  ${s.file}: ${s.reason}`),
    ...(skipped.length > max ? [`  ... and ${skipped.length - max} more (--json lists them all)`] : []),
  ];
}

export function register(program: Command): void {
  const cmd = program
    .command("advisories")
    .description("manage the OSV advisory database `kiln audit` matches against (kept under KILN_HOME)")
    .addHelpText(
      "after",
      "\nExamples:\n  kiln advisories import Debian/all.zip     # osv.dev's Debian ecosystem archive\n  kiln advisories import ./osv-dir --name local\n  kiln advisories list\n  kiln advisories remove local",
    );

  withCommon(
    cmd
      .command("import")
      .description("import a directory or .zip of OSV JSON files (replaces the source of the same name)")
      .argument("<path>", "directory of OSV JSON files, a .zip of them, or one .json file")
      .option("--name <name>", "source name (default: from the path; Debian/all.zip is Debian)")
      .addHelpText("after", "\nExample:\n  kiln advisories import ~/Downloads/Debian/all.zip"),
  ).action(async (path: string, opts: ImportOpts) => {
    const { importAdvisories } = await import("../../compliance/advisoryStore.js");
    const progress = await progressFor(opts);
    const r = await importAdvisories(path, { ...(opts.name ? { name: opts.name } : {}), progress });
    report(opts, r, (x) =>
      [
        `imported ${x.entries} advisories (${x.withdrawn} withdrawn) for ${x.packages} packages from ${x.files} files as source ${x.name}`,
        ...Object.entries(x.ecosystems).map(([e, n]) => `  ${e}: ${n}`),
        ...skippedLines(x.skippedFiles),
      ].join("\n"),
    );
  });

  withCommon(
    cmd
      .command("list")
      .description("list the imported advisory sources")
      .addHelpText("after", "\nExample:\n  kiln advisories list --json"),
  ).action(async (opts: CommonOpts) => {
    const { listAdvisorySources } = await import("../../compliance/advisoryStore.js");
    const list = await listAdvisorySources();
    report(opts, list, (l) =>
      l.length === 0
        ? "no advisories imported; run `kiln advisories import PATH`"
        : table([
            ["source", "advisories", "packages", "ecosystems"],
            ...l.map((s) => [
              s.name,
              String(s.entries),
              String(s.packages),
              Object.keys(s.ecosystems).join(", "),
            ]),
          ]),
    );
  });

  withCommon(
    cmd
      .command("remove")
      .description("remove an imported advisory source")
      .argument("<name>", "source name (see `kiln advisories list`)")
      .addHelpText("after", "\nExample:\n  kiln advisories remove Debian"),
  ).action(async (name: string, opts: CommonOpts) => {
    const { removeAdvisorySource } = await import("../../compliance/advisoryStore.js");
    await removeAdvisorySource(name);
    report(opts, { removed: name }, (x) => `removed advisory source ${x.removed}`);
  });
}
