/**
 * Does an OSV entry affect a version? OSV's own evaluation (osv-schema "Evaluation"): a version is
 * affected when it is listed in `versions`, or when, walking a range's events in version order, the last
 * event at or below it is an `introduced` (a `fixed` at or below it, or a `last_affected` below it, ends
 * the affected stretch; `limit` bounds the range). Debian and Ubuntu versions are ordered as dpkg orders
 * them, everything else by semver (loose parsing; versions semver cannot read match only exactly). GIT
 * ranges need commit history and are not evaluated.
 */
import { createRequire } from "node:module";
import type { SemVer } from "semver";
import { compareDebVersions } from "../core/debVersion.js";
import type { OsvAffected, OsvRange, StoredAdvisory } from "./osv.js";

export type VersionScheme = "debian" | "semver";

export function schemeFor(ecosystem: string): VersionScheme {
  return /^(Debian|Ubuntu)(:|$)/.test(ecosystem) ? "debian" : "semver";
}

// semver is loaded on first use: Debian-only audits (the common case) never need it.
const require = createRequire(import.meta.url);
let semverLib: typeof import("semver") | undefined;
const semver = () => {
  semverLib ??= require("semver") as typeof import("semver");
  return semverLib;
};

function semverOf(v: string): SemVer | undefined {
  return semver().parse(v, { loose: true }) ?? semver().coerce(v, { includePrerelease: true }) ?? undefined;
}

/** -1/0/1, or undefined when the scheme cannot order the two. "0" (OSV's "from the start") is lowest. */
export function compareVersions(a: string, b: string, scheme: VersionScheme): number | undefined {
  if (a === b) return 0;
  if (a === "0") return -1;
  if (b === "0") return 1;
  if (scheme === "debian") return compareDebVersions(a, b);
  const x = semverOf(a);
  const y = semverOf(b);
  return x && y ? semver().compare(x, y) : undefined;
}

export interface RangeMatch {
  /** "versions" when listed explicitly, else the range type. */
  via: string;
  /** The first fixed version above the one checked, if the range names one. */
  fixed?: string;
  lastAffected?: string;
}

type EventKind = "introduced" | "fixed" | "last_affected" | "limit";

function eventVersion(e: OsvRange["events"][number]): [kind: EventKind, version: string] {
  if (e.introduced !== undefined) return ["introduced", e.introduced];
  if (e.fixed !== undefined) return ["fixed", e.fixed];
  if (e.last_affected !== undefined) return ["last_affected", e.last_affected];
  return ["limit", e.limit ?? ""];
}

/**
 * Events in version order (ties keep their order); the store keeps them sorted so that an audit only
 * checks the order. Undefined when the scheme cannot order them.
 */
export function sortedEvents(r: OsvRange, scheme: VersionScheme): OsvRange["events"] | undefined {
  const s: VersionScheme = r.type.toUpperCase() === "SEMVER" ? "semver" : scheme;
  let incomparable = false;
  const sorted = [...r.events].sort((a, b) => {
    const c = compareVersions(eventVersion(a)[1], eventVersion(b)[1], s);
    if (c === undefined) incomparable = true;
    return c ?? 0;
  });
  return incomparable ? undefined : sorted;
}

// One pass over the (sorted) events; this runs for every advisory of every package audited.
function matchRange(r: OsvRange, version: string, scheme: VersionScheme): RangeMatch | undefined {
  const type = r.type.toUpperCase();
  if (type !== "ECOSYSTEM" && type !== "SEMVER") return undefined;
  const s: VersionScheme = type === "SEMVER" ? "semver" : scheme;
  let events = r.events;
  for (let i = 1; i < events.length; i++) {
    const c = compareVersions(eventVersion(events[i - 1]!)[1], eventVersion(events[i]!)[1], s);
    if (c === undefined) return undefined;
    if (c > 0) {
      const sorted = sortedEvents(r, scheme);
      if (!sorted) return undefined;
      events = sorted;
      break;
    }
  }
  let affected = false;
  let fixed: string | undefined;
  let lastAffected: string | undefined;
  let limited = false;
  let belowLimit = false;
  for (const e of events) {
    const [kind, v] = eventVersion(e);
    const c = compareVersions(version, v, s);
    if (c === undefined) return undefined;
    if (kind === "introduced") {
      if (c >= 0) affected = true;
    } else if (kind === "fixed") {
      if (c >= 0) affected = false;
      else fixed ??= v;
    } else if (kind === "last_affected") {
      if (c > 0) affected = false;
      else lastAffected ??= v;
    } else {
      limited = true;
      if (c < 0) belowLimit = true;
    }
  }
  if (!affected || (limited && !belowLimit)) return undefined;
  return { via: type, ...(fixed ? { fixed } : {}), ...(lastAffected ? { lastAffected } : {}) };
}

export function matchAffected(
  a: OsvAffected,
  version: string,
  scheme: VersionScheme,
): RangeMatch | undefined {
  for (const r of a.ranges ?? []) {
    const m = matchRange(r, version, scheme);
    if (m) return m;
  }
  if (a.versions?.some((v) => v === version || compareVersions(v, version, scheme) === 0)) {
    // Listed explicitly; a range may still say where it was fixed.
    const fixed = (a.ranges ?? [])
      .flatMap((r) => r.events.map(eventVersion))
      .filter(([k, v]) => k === "fixed" && (compareVersions(v, version, scheme) ?? 0) > 0)
      .map(([, v]) => v)[0];
    return { via: "versions", ...(fixed ? { fixed } : {}) };
  }
  return undefined;
}

/** The match of a stored advisory for `version`; withdrawn advisories never match. */
export function matchAdvisory(
  adv: StoredAdvisory,
  version: string,
  ecosystem: string,
): RangeMatch | undefined {
  if (adv.withdrawn) return undefined;
  const scheme = schemeFor(ecosystem);
  for (const a of adv.affected) {
    const m = matchAffected(a, version, scheme);
    if (m) return m;
  }
  return undefined;
}
