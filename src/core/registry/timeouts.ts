/**
 * kiln's own time limits for talking to a registry, one per phase: connecting, waiting for the answer's
 * headers once the request is sent, and a body (download or upload) that stops moving. Without them a
 * registry that accepts the connection and never answers holds a pull for fetch's 5 minutes, and a stalled
 * download forever; with them the error says which registry, which phase, and how long kiln waited.
 */
import { KilnError, q, usageError } from "../errors.js";

export type TimeoutPhase = "connect" | "headers" | "stall";

export interface RegistryTimeouts {
  /** Until the TCP connection is made. */
  connectMs: number;
  /** From the end of the request (its body sent) to the answer's headers. */
  headersMs: number;
  /** The longest pause between two chunks of a body, either way. */
  stallMs: number;
}

/** Generous for a registry on the far side of the world, short next to fetch's own 300 s. */
export const DEFAULT_TIMEOUTS: RegistryTimeouts = { connectMs: 10_000, headersMs: 60_000, stallMs: 60_000 };

/** The command line option for each phase (src/cli/registryOptions.ts defines them). */
export const TIMEOUT_OPTIONS: Record<TimeoutPhase, string> = {
  connect: "--connect-timeout",
  headers: "--timeout",
  stall: "--stall-timeout",
};

export function parseTimeoutSeconds(value: string, option: string): number {
  const s = value.trim();
  const n = /^\d+(\.\d+)?$/.test(s) ? Number(s) : Number.NaN;
  if (!(n > 0) || n > 86_400) {
    throw usageError(
      "KILN_EBAD_TIMEOUT",
      `Cannot use ${option} ${q(value)}: give seconds, more than 0 and at most 86400`,
      `Write it like ${option} 30 (or 0.5).`,
    );
  }
  return Math.round(n * 1000);
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function registryTimeoutError(
  registry: string,
  phase: TimeoutPhase,
  ms: number,
  what: string,
): KilnError {
  const said = {
    connect: `Cannot connect to registry ${q(registry)} for ${what}: no connection within ${seconds(ms)} (connect timeout)`,
    headers: `Registry ${q(registry)} sent no answer to ${what} within ${seconds(ms)} (timeout waiting for the answer's headers)`,
    stall: `Transfer of ${what} with registry ${q(registry)} stalled: nothing moved for ${seconds(ms)} (stall timeout)`,
  }[phase];
  return new KilnError(
    "KILN_EREGISTRY_TIMEOUT",
    said,
    `The registry or the network to it is stuck; nothing was kept. Try again later, check the host and port, or allow more time with ${TIMEOUT_OPTIONS[phase]} SECONDS.`,
    { details: { registry, phase, timeoutMs: ms } },
  );
}
