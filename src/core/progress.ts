/**
 * Progress for long steps. Handlers call `step()`; only the CLI decides how it shows: a spinner on a TTY,
 * plain lines on stderr otherwise, nothing with --json or --quiet. Handlers never write to stdout.
 */
export interface Progress {
  step(text: string): void;
  done(text?: string): void;
  fail(text?: string): void;
}

export const silentProgress: Progress = { step() {}, done() {}, fail() {} };

export function lineProgress(stream: NodeJS.WritableStream = process.stderr): Progress {
  let current = "";
  let started = 0;
  return {
    step(text) {
      current = text;
      started = performance.now();
      stream.write(`kiln: ${text}\n`);
    },
    done(text) {
      const ms = Math.round(performance.now() - started);
      if (text ?? current) stream.write(`kiln: ${text ?? current} (${ms} ms)\n`);
    },
    fail(text) {
      if (text) stream.write(`kiln: ${text}\n`);
    },
  };
}

/** A spinner (ora) on a TTY. Loaded lazily: ora is not needed for quick verbs. */
export async function ttyProgress(): Promise<Progress> {
  const { default: ora } = await import("ora");
  const spinner = ora({ stream: process.stderr });
  let started = 0;
  return {
    step(text) {
      started = performance.now();
      spinner.start(text);
    },
    done(text) {
      spinner.succeed(`${text ?? spinner.text} (${Math.round(performance.now() - started)} ms)`);
    },
    fail(text) {
      spinner.fail(text ?? spinner.text);
    },
  };
}
