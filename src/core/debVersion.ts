/**
 * Debian version ordering (Debian Policy 5.6.12), as `dpkg --compare-versions` does it: epoch numerically,
 * then upstream version and Debian revision with dpkg's `verrevcmp` (non-digit runs compared character by
 * character where `~` sorts before everything, even the end of the string, and letters sort before every
 * other non-digit; digit runs compared as numbers of any length). Needed because Debian's security data
 * names fixed versions like `6.1.158-1` or `1:2.4.47-2~deb12u1`, which semver cannot order.
 */
import { q, usageError } from "./errors.js";

export interface DebVersion {
  epoch: number;
  upstream: string;
  /** "" when the version has no Debian revision (dpkg treats it like "0"). */
  revision: string;
}

/**
 * Split a version the way dpkg does: the epoch is before the first ":", the revision after the last "-".
 * Lenient like dpkg's comparison (which only warns on bad syntax); use `checkDebVersion` to refuse bad input.
 */
export function parseDebVersion(version: string): DebVersion {
  let v = version.trim();
  let epoch = 0;
  const colon = v.indexOf(":");
  if (colon >= 0) {
    const e = v.slice(0, colon);
    epoch = /^[0-9]+$/.test(e) ? Number(e) : 0;
    v = v.slice(colon + 1);
  }
  const dash = v.lastIndexOf("-");
  if (dash >= 0) return { epoch, upstream: v.slice(0, dash), revision: v.slice(dash + 1) };
  return { epoch, upstream: v, revision: "" };
}

/** The syntax problem with a version, or undefined when Debian Policy 5.6.12 allows it. */
export function debVersionProblem(version: string): string | undefined {
  if (version === "") return "it is empty";
  if (/\s/.test(version)) return "it contains whitespace";
  const colon = version.indexOf(":");
  if (colon >= 0 && !/^[0-9]+$/.test(version.slice(0, colon))) return "the epoch is not a number";
  const { upstream, revision } = parseDebVersion(version);
  if (upstream === "") return "the upstream version is empty";
  if (!/^[0-9]/.test(upstream)) return "the upstream version does not start with a digit";
  if (!/^[A-Za-z0-9.+~:-]+$/.test(upstream))
    return "the upstream version has a character other than A-Za-z0-9.+~-:";
  if (version.includes("-") && revision === "") return "the Debian revision after the last '-' is empty";
  if (revision && !/^[A-Za-z0-9.+~]+$/.test(revision))
    return "the Debian revision has a character other than A-Za-z0-9.+~";
  return undefined;
}

/** Throw a usage error (KILN_EDEB_VERSION) for a version dpkg would warn about. */
export function checkDebVersion(version: string, what = "version"): string {
  const problem = debVersionProblem(version);
  if (problem)
    throw usageError(
      "KILN_EDEB_VERSION",
      `Cannot use Debian ${what} ${q(version)}: ${problem}`,
      "Write a Debian version like 1.2.3-1, 1:2.0~rc1-2 or 6.1.158-1 (Debian Policy 5.6.12).",
    );
  return version;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** dpkg's `order()`: where one character of a non-digit run sorts; NaN (end of string) is 0. */
function order(c: number): number {
  if (Number.isNaN(c) || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126) return -1; // "~"
  return c + 256;
}

/** dpkg's `verrevcmp` over one part (upstream or revision). */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

// Audits compare one version against thousands of advisories' versions: keep recent parses.
const parsed = new Map<string, DebVersion>();
function parsedVersion(v: string): DebVersion {
  let p = parsed.get(v);
  if (!p) {
    if (parsed.size > 50_000) parsed.clear();
    p = parseDebVersion(v);
    parsed.set(v, p);
  }
  return p;
}

/** -1, 0 or 1 as `a` sorts before, equal to or after `b` in Debian's ordering. */
export function compareDebVersions(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  const x = parsedVersion(a);
  const y = parsedVersion(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  const u = verrevcmp(x.upstream, y.upstream);
  if (u) return sign(u) as -1 | 1;
  return sign(verrevcmp(x.revision, y.revision)) as -1 | 0 | 1;
}
