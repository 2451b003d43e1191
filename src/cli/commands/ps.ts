import type { Command } from "commander";
import type { MachineStatus } from "../../launch/machine.js";
import { type CommonOpts, report, table, withCommon } from "../context.js";

export function stateText(m: MachineStatus): string {
  if (m.state !== "exited") return m.state;
  if (m.reason === "exited") return `exited (${m.exitStatus})`;
  return m.reason ?? "exited";
}

export function register(program: Command): void {
  withCommon(
    program
      .command("ps")
      .description("list machines (running and exited)")
      .option("--running", "only running machines")
      .option(
        "--connect <URI>",
        "also list kiln's domains on this libvirt host, whoever launched them (repeatable)",
        (v: string, prev: string[] = []) => [...prev, v],
      )
      .addHelpText(
        "after",
        "\nExample:\n  kiln ps\n  kiln ps --connect qemu:///system --connect qemu+ssh://root@web2/system\n  kiln ps --json | jq '.[] | select(.state == \"running\") | .name'",
      ),
  ).action(async (opts: CommonOpts & { running?: boolean; connect?: string[] }) => {
    const { psMachines } = await import("../../launch/machines.js");
    const list = await psMachines({ all: !opts.running, ...(opts.connect ? { connect: opts.connect } : {}) });
    const hosts = (opts.connect ?? []).length > 0;
    report(opts, list, (ms) =>
      ms.length === 0
        ? "no machines"
        : table([
            ["NAME", "BACKEND", "STATE", "PID", "PORTS", "IMAGE", ...(hosts ? ["HOST"] : [])],
            ...ms.map((m) => [
              m.name,
              m.backend,
              stateText(m),
              m.state === "running" && m.pid ? String(m.pid) : "-",
              m.ports?.join(",") ?? "-",
              m.image,
              ...(hosts ? [m.host ?? "-"] : []),
            ]),
          ]),
    );
  });
}
