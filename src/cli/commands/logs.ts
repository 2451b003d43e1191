import type { Command } from "commander";
import { interruptOnSignals } from "./launch.js";

export function register(program: Command): void {
  program
    .command("logs")
    .description("print a machine's console output")
    .argument("<name>", "machine name (see kiln ps)")
    .option("-f, --follow", "keep printing new output until the machine ends (or Ctrl-C)")
    .addHelpText("after", "\nExample:\n  kiln logs -f web")
    .action(async (name: string, opts: { follow?: boolean }) => {
      const { machineLogs } = await import("../../launch/machines.js");
      const ac = new AbortController();
      const signals = interruptOnSignals(ac);
      try {
        await machineLogs(name, (b) => process.stdout.write(b), {
          ...(opts.follow ? { follow: true } : {}),
          signal: ac.signal,
        });
      } finally {
        signals.dispose();
      }
    });
}
