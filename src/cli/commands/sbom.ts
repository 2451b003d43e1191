import type { Command } from "commander";
import { type CommonOpts, report, withCommon } from "../context.js";

interface SbomCliOpts extends CommonOpts {
  format: string;
  output?: string;
  force?: boolean;
}

export function register(program: Command): void {
  withCommon(
    program
      .command("sbom")
      .description("write the software bill of materials of an image: every part, its licence and origin")
      .argument("<image>", "image directory written by `kiln bake`")
      .option("-f, --format <format>", "spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON)", "spdx")
      .option("-o, --output <file>", "write to a file instead of stdout")
      .option("--force", "with -o: replace the file even if kiln did not write it")
      .addHelpText(
        "after",
        "\nExamples:\n  kiln sbom out/hello > hello.spdx.json\n  kiln sbom out/hello --format cyclonedx -o hello.cdx.json",
      ),
  ).action(async (image: string, opts: SbomCliOpts) => {
    const { sbom, sbomFormat } = await import("../../compliance/sbom.js");
    const format = sbomFormat(opts.format);
    const r = await sbom(image, format);
    if (!opts.json && !opts.quiet)
      for (const w of r.parts.warnings) process.stderr.write(`kiln: warning: ${w}\n`);
    if (!opts.output) {
      process.stdout.write(r.text);
      return;
    }
    const { writeOutput } = await import("../../core/outputPath.js");
    const { writeFile } = await import("node:fs/promises");
    const output = { kind: "file" as const, parents: true, ...(opts.force ? { force: true } : {}) };
    await writeOutput(opts.output, output, (tmp) => writeFile(tmp, r.text));
    report(
      opts,
      {
        file: opts.output,
        format,
        parts: r.parts.parts.length,
        digest: r.parts.digest,
        warnings: r.parts.warnings,
      },
      (d) => `wrote ${d.format} SBOM of ${image} (${d.parts} parts) to ${d.file}`,
    );
  });
}
