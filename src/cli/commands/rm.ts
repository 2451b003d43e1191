import type { Command } from "commander";
import type { MachineStatus } from "../../launch/machine.js";
import { type CommonOpts, report, withCommon } from "../context.js";

export function register(program: Command): void {
  withCommon(
    program
      .command("rm")
      .description("remove machines and their state (console log, configuration)")
      .argument("<names...>", "machine names (see kiln ps)")
      .option("-f, --force", "stop running machines first")
      .addHelpText("after", "\nExample:\n  kiln rm web\n  kiln rm -f web"),
  ).action(async (names: string[], opts: CommonOpts & { force?: boolean }) => {
    const { removeMachine } = await import("../../launch/machines.js");
    const out: MachineStatus[] = [];
    for (const n of names) out.push(await removeMachine(n, { ...(opts.force ? { force: true } : {}) }));
    report(opts, out, (ms) => ms.map((m) => m.name).join("\n"));
  });
}
