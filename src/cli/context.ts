import type { Command } from "commander";
import { lineProgress, type Progress, silentProgress, ttyProgress } from "../core/progress.js";

/** Options every reporting verb accepts. */
export interface CommonOpts {
  json?: boolean;
  quiet?: boolean;
}

export function withCommon(cmd: Command): Command {
  return cmd
    .option("--json", "print the result as JSON on stdout")
    .option("-q, --quiet", "no progress lines");
}

/** Set by actions that hand on a status of their own (the program's exit status for `run`). */
export const cliState = { exitCode: 0, words: [] as readonly string[] };

export async function progressFor(opts: CommonOpts): Promise<Progress> {
  if (opts.json || opts.quiet) return silentProgress;
  return process.stderr.isTTY ? ttyProgress() : lineProgress();
}

/** The one place where results become text: JSON for scripts, the human rendering otherwise. */
export function report<T>(opts: CommonOpts, data: T, human: (d: T) => string): void {
  const text = rendered(opts, data, human);
  if (text) process.stdout.write(text);
}

/** What report prints. */
export function rendered<T>(opts: CommonOpts, data: T, human: (d: T) => string): string {
  if (opts.json) return `${JSON.stringify(data, null, 2)}\n`;
  const text = human(data);
  return !text || text.endsWith("\n") ? text : `${text}\n`;
}

/** Aligned two-column rows for human output. */
export function table(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return "";
  const widths: number[] = [];
  for (const r of rows) for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "))
    .join("\n");
}
