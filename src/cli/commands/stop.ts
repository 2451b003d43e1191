import type { Command } from "commander";
import type { MachineStatus } from "../../launch/machine.js";
import { type CommonOpts, report, withCommon } from "../context.js";

export function register(program: Command): void {
  withCommon(
    program
      .command("stop")
      .description("stop running machines (QEMU quits cleanly; forced after the timeout)")
      .argument("<names...>", "machine names (see kiln ps)")
      .option("-t, --timeout <SECONDS>", "how long to wait before forcing", "5")
      .addHelpText("after", "\nExample:\n  kiln stop web"),
  ).action(async (names: string[], opts: CommonOpts & { timeout: string }) => {
    const { stopMachine } = await import("../../launch/machines.js");
    const { q, usageError } = await import("../../core/errors.js");
    const secs = Number(opts.timeout);
    if (!Number.isFinite(secs) || secs < 0) {
      throw usageError("KILN_EBAD_TIMEOUT", `Cannot wait ${q(opts.timeout)} seconds`, "Give seconds: -t 10.");
    }
    const out: MachineStatus[] = [];
    for (const n of names) out.push(await stopMachine(n, { timeoutMs: secs * 1000 }));
    report(opts, out, (ms) => ms.map((m) => m.name).join("\n"));
  });
}
