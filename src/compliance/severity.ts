/**
 * Severity of an advisory: CVSS v3.x and v2 base scores computed from their vectors (FIRST's formulas),
 * CVSS v4 kept as its vector (its scoring needs FIRST's lookup tables), and the words databases use
 * (GHSA's "MODERATE", Debian's urgencies, Ubuntu's priorities) mapped onto one scale.
 */
import type { OsvSeverity, StoredAdvisory } from "./osv.js";

export const LEVELS = ["unknown", "low", "medium", "high", "critical"] as const;
export type SeverityLevel = (typeof LEVELS)[number];

export interface Severity {
  level: SeverityLevel;
  score?: number;
  /** The vector or word it came from. */
  vector?: string;
  source?: string;
}

function metrics(vector: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of vector.split("/")) {
    const [k, v] = part.split(":");
    if (k && v !== undefined) m.set(k, v);
  }
  return m;
}

/** CVSS 3.1's Roundup: the smallest one-decimal number >= x, robust to floating-point noise. */
function roundup(x: number): number {
  const i = Math.round(x * 100000);
  return i % 10000 === 0 ? i / 100000 : (Math.floor(i / 10000) + 1) / 10;
}

/** CVSS v3.0/v3.1 base score, or undefined when the vector is incomplete. */
export function cvss3Score(vector: string): number | undefined {
  const m = metrics(vector);
  const AV = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 }[m.get("AV") ?? ""];
  const AC = { L: 0.77, H: 0.44 }[m.get("AC") ?? ""];
  const scope = m.get("S");
  const PR = (scope === "C" ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 })[
    m.get("PR") ?? ""
  ];
  const UI = { N: 0.85, R: 0.62 }[m.get("UI") ?? ""];
  const cia = (k: string) => ({ H: 0.56, L: 0.22, N: 0 })[m.get(k) ?? ""];
  const C = cia("C");
  const I = cia("I");
  const A = cia("A");
  if ([AV, AC, PR, UI, C, I, A].some((x) => x === undefined) || (scope !== "U" && scope !== "C"))
    return undefined;
  const iss = 1 - (1 - C!) * (1 - I!) * (1 - A!);
  const impact = scope === "U" ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * AV! * AC! * PR! * UI!;
  if (impact <= 0) return 0;
  return scope === "U"
    ? roundup(Math.min(impact + exploitability, 10))
    : roundup(Math.min(1.08 * (impact + exploitability), 10));
}

/** CVSS v2 base score. */
export function cvss2Score(vector: string): number | undefined {
  const m = metrics(vector.replace(/^\(|\)$/g, ""));
  const AV = { L: 0.395, A: 0.646, N: 1 }[m.get("AV") ?? ""];
  const AC = { H: 0.35, M: 0.61, L: 0.71 }[m.get("AC") ?? ""];
  const Au = { M: 0.45, S: 0.56, N: 0.704 }[m.get("Au") ?? ""];
  const cia = (k: string) => ({ N: 0, P: 0.275, C: 0.66 })[m.get(k) ?? ""];
  const C = cia("C");
  const I = cia("I");
  const A = cia("A");
  if ([AV, AC, Au, C, I, A].some((x) => x === undefined)) return undefined;
  const impact = 10.41 * (1 - (1 - C!) * (1 - I!) * (1 - A!));
  const exploitability = 20 * AV! * AC! * Au!;
  const f = impact === 0 ? 0 : 1.176;
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10;
}

export function levelOfScore(score: number, v2 = false): SeverityLevel {
  if (score <= 0) return "unknown";
  if (score < 4) return "low";
  if (score < 7) return "medium";
  if (v2 || score < 9) return "high";
  return "critical";
}

const WORDS: Record<string, SeverityLevel> = {
  negligible: "low",
  unimportant: "low",
  low: "low",
  moderate: "medium",
  medium: "medium",
  important: "high",
  high: "high",
  critical: "critical",
};

export function levelOfWord(word: string): SeverityLevel {
  return WORDS[word.trim().toLowerCase()] ?? "unknown";
}

// Databases repeat the same few vectors thousands of times: score each once.
const scored = new Map<string, Severity>();
function fromOsv(s: OsvSeverity): Severity {
  const key = `${s.type}\n${s.score}`;
  let r = scored.get(key);
  if (!r) {
    if (scored.size > 10_000) scored.clear();
    r = scoreOf(s);
    scored.set(key, r);
  }
  return r;
}

function scoreOf(s: OsvSeverity): Severity {
  const type = s.type.toUpperCase();
  if (type === "CVSS_V3" || s.score.startsWith("CVSS:3")) {
    const score = cvss3Score(s.score);
    return score === undefined
      ? { level: "unknown", vector: s.score, source: type }
      : { level: levelOfScore(score), score, vector: s.score, source: type };
  }
  if (type === "CVSS_V2") {
    const score = cvss2Score(s.score);
    return score === undefined
      ? { level: "unknown", vector: s.score, source: type }
      : { level: levelOfScore(score, true), score, vector: s.score, source: type };
  }
  // CVSS_V4 and others: a plain number is a score; a word is a level; a vector stays as it is.
  const n = Number(s.score);
  if (s.score.trim() !== "" && Number.isFinite(n)) return { level: levelOfScore(n), score: n, source: type };
  return { level: levelOfWord(s.score), vector: s.score, source: type };
}

const rank = (l: SeverityLevel) => LEVELS.indexOf(l);

/**
 * The severity to report: package-specific (affected[].severity) first, then the entry's, then the words in
 * database_specific / ecosystem_specific; the highest level among what one source gives.
 */
export function advisorySeverity(adv: StoredAdvisory): Severity {
  const pick = (list: Severity[]) =>
    list.length
      ? list.reduce((a, b) => (rank(b.level) > rank(a.level) || (b.score ?? 0) > (a.score ?? 0) ? b : a))
      : undefined;
  const perPackage = adv.affected.flatMap((a) => (a.severity ?? []).map(fromOsv));
  const entry = (adv.severity ?? []).map(fromOsv);
  const words: Severity[] = [];
  const word = (v: unknown, source: string) => {
    if (typeof v === "string" && levelOfWord(v) !== "unknown")
      words.push({ level: levelOfWord(v), vector: v, source });
  };
  word(adv.database_specific?.severity, "database_specific.severity");
  for (const a of adv.affected) {
    word(a.ecosystem_specific?.severity, "ecosystem_specific.severity");
    word(a.ecosystem_specific?.urgency, "ecosystem_specific.urgency");
    word(a.database_specific?.severity, "database_specific.severity");
  }
  for (const list of [perPackage, entry]) {
    const best = pick(list);
    if (best && best.level !== "unknown") return best;
  }
  return pick(words) ?? pick([...perPackage, ...entry]) ?? { level: "unknown" };
}

export function atLeast(level: SeverityLevel, threshold: SeverityLevel): boolean {
  return rank(level) >= rank(threshold);
}
