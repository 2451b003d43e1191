import type { Command } from "commander";
import { DEFAULT_TIMEOUTS, parseTimeoutSeconds, type RegistryTimeouts } from "../core/registry/timeouts.js";

/** The time limit options of every verb that talks to an OCI registry (push, pull, pkg repositories). */
export interface RegistryTimeoutOpts {
  connectTimeout?: string;
  timeout?: string;
  stallTimeout?: string;
}

export function withRegistryTimeouts(cmd: Command): Command {
  const s = (ms: number) => `${ms / 1000}`;
  return cmd
    .option(
      "--connect-timeout <seconds>",
      `give up connecting to a registry after this long (default ${s(DEFAULT_TIMEOUTS.connectMs)})`,
    )
    .option(
      "--timeout <seconds>",
      `give up waiting for a registry's answer to a request after this long (default ${s(DEFAULT_TIMEOUTS.headersMs)})`,
    )
    .option(
      "--stall-timeout <seconds>",
      `give up on a download or upload that stops moving for this long (default ${s(DEFAULT_TIMEOUTS.stallMs)})`,
    );
}

/** The limits the user set (each one not set keeps its default); undefined when none. */
export function registryTimeouts(o: RegistryTimeoutOpts): { timeouts?: Partial<RegistryTimeouts> } {
  const t: Partial<RegistryTimeouts> = {};
  if (o.connectTimeout !== undefined)
    t.connectMs = parseTimeoutSeconds(o.connectTimeout, "--connect-timeout");
  if (o.timeout !== undefined) t.headersMs = parseTimeoutSeconds(o.timeout, "--timeout");
  if (o.stallTimeout !== undefined) t.stallMs = parseTimeoutSeconds(o.stallTimeout, "--stall-timeout");
  return Object.keys(t).length ? { timeouts: t } : {};
}
