import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { type CommonOpts, report, withCommon } from "../context.js";

interface GcOpts extends CommonOpts {
  grace: string;
  dryRun?: boolean;
}

export function register(program: Command): void {
  withCommon(
    program
      .command("gc")
      .description(
        "remove store objects nothing uses (no project's kiln.lock, no installed package, not the stock kernel) and what killed kilns left in KILN_HOME",
      )
      .option("--grace <minutes>", "keep objects younger than this (another kiln may be using them)", "15")
      .option("-n, --dry-run", "only say what would be removed")
      .addHelpText("after", "\nExamples:\n  kiln gc\n  kiln gc --dry-run --grace 0"),
  ).action(async (opts: GcOpts) => {
    const minutes = Number(opts.grace);
    if (!Number.isFinite(minutes) || minutes < 0) {
      throw usageError(
        "KILN_EGC_GRACE",
        `Cannot use --grace ${JSON.stringify(opts.grace)}`,
        "Give a number of minutes, like --grace 0.",
      );
    }
    const { collectGarbage } = await import("../../pkg/gc.js");
    const r = await collectGarbage({ graceMs: minutes * 60_000, ...(opts.dryRun ? { dryRun: true } : {}) });
    report(opts, r, (d) =>
      [
        `${d.dryRun ? "would remove" : "removed"} ${d.removedBlobs.length} blobs and ${d.removedTrees.length} trees (${(d.bytesFreed / 1e6).toFixed(1)} MB); kept ${d.keptBlobs} blobs, ${d.keptTrees} trees`,
        ...d.droppedRoots.map((p) => `  forgot ${p} (its kiln.lock is gone)`),
        ...d.removedScratch.map(
          (p) => `  ${d.dryRun ? "would remove" : "removed"} ${p} (left by a kiln that was killed)`,
        ),
      ].join("\n"),
    );
  });
}
