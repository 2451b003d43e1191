import { q, usageError } from "./errors.js";

/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org): the time a build's outputs carry, in seconds since 1970;
 * undefined when unset. A malformed value is an error, as the specification asks, not silently ignored.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === "") return undefined;
  if (!/^\d{1,12}$/.test(v))
    throw usageError(
      "KILN_ESOURCE_DATE_EPOCH",
      `Cannot use SOURCE_DATE_EPOCH=${q(v)}: not a whole number of seconds since 1970`,
      "Set it like SOURCE_DATE_EPOCH=$(git log -1 --format=%ct), or unset it.",
    );
  return Number(v);
}
