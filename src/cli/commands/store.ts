import type { Command } from "commander";
import { type CommonOpts, cliState, report, withCommon } from "../context.js";

export function register(program: Command): void {
  const store = program
    .command("store")
    .description("the content-addressed store (KILN_HOME/store): blobs by sha256 and unpacked trees")
    .addHelpText("after", "\nExample:\n  kiln store verify");

  withCommon(
    store
      .command("verify")
      .description(
        "recheck every blob and every file of every tree against its recorded digest (exit 1 on a problem)",
      )
      .addHelpText("after", "\nExample:\n  kiln store verify --json"),
  ).action(async (opts: CommonOpts) => {
    const { openStore } = await import("../../core/store.js");
    const s = openStore();
    const r = { store: s.root, ...(await s.verify()) };
    if (r.problems.length) cliState.exitCode = 1;
    report(opts, r, (d) =>
      [
        `${d.problems.length ? `${d.problems.length} problem${d.problems.length === 1 ? "" : "s"}` : "ok"}: ${d.blobs} blobs, ${d.trees} trees (${d.files} files) in ${d.store}`,
        ...d.problems.map((p) => `  ${p.problem}: ${p.path}`),
        ...(d.problems.length
          ? ["hint: fetch or install again what uses them; `kiln gc` removes what nothing uses"]
          : []),
      ].join("\n"),
    );
  });
}
