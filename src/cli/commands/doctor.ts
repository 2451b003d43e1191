import type { Command } from "commander";
import { type CommonOpts, cliState, report, table, withCommon } from "../context.js";

export function register(program: Command): void {
  withCommon(
    program
      .command("doctor")
      .description("check the host tools kiln uses and say how to install what is missing")
      .addHelpText("after", "\nExample:\n  kiln doctor\n  kiln doctor --json | jq .install"),
  ).action(async (opts: CommonOpts) => {
    const { doctor } = await import("../../core/doctor.js");
    const r = await doctor();
    report(opts, r, (d) => {
      const rows = d.checks.map((c) => [
        c.ok ? "ok" : c.required ? "MISSING" : "missing",
        c.what,
        c.package === "-" ? "" : c.package,
        c.ok ? c.purpose : `${c.purpose}${c.note ? ` (${c.note})` : ""}`,
      ]);
      let out = table([["status", "what", "package", "used for"], ...rows]);
      if (d.installRequired)
        out += `\n\nkiln cannot work without these. Install them:\n  ${d.installRequired}`;
      if (d.install && d.install !== d.installRequired)
        out += `\n\nEverything missing (optional ones too):\n  ${d.install}`;
      if (d.ok) out += "\n\nAll required tools are present.";
      const s = d.startup;
      out +=
        s.from === "snapshot"
          ? `\nkiln starts from its snapshot (${s.snapshot}).`
          : `\nkiln starts from its modules: ${s.why}.\n  hint: ${s.hint}`;
      return out;
    });
    cliState.exitCode = r.ok ? 0 : 1;
  });
}
