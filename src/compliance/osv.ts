/**
 * OSV (Open Source Vulnerability format, https://ossf.github.io/osv-schema/) entries: the fields kiln uses,
 * trimmed for the store (details and references are long and not needed to match or report). The schema
 * check lives in osvSchema.ts, loaded only when importing.
 */
export interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

export interface OsvRange {
  type: string;
  repo?: string;
  events: OsvEvent[];
}

export interface OsvSeverity {
  type: string;
  score: string;
}

export interface OsvAffected {
  package?: { ecosystem: string; name: string; purl?: string };
  ranges?: OsvRange[];
  versions?: string[];
  severity?: OsvSeverity[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

export interface OsvEntry {
  schema_version?: string;
  id: string;
  modified: string;
  published?: string;
  withdrawn?: string;
  aliases?: string[];
  related?: string[];
  summary?: string;
  details?: string;
  severity?: OsvSeverity[];
  affected?: OsvAffected[];
  references?: unknown[];
  database_specific?: Record<string, unknown>;
}

/** What the store keeps of an entry for one package: enough to match and to report. */
export interface StoredAdvisory {
  id: string;
  modified: string;
  aliases?: string[];
  summary?: string;
  withdrawn?: string;
  severity?: OsvSeverity[];
  database_specific?: Record<string, unknown>;
  /** The `affected` items for this (ecosystem, package) only. */
  affected: OsvAffected[];
}

/** Keep of `*_specific` only the words severity is read from (the rest can be large and is never used). */
function severityWords(x: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!x) return undefined;
  const out: Record<string, unknown> = {};
  for (const k of ["severity", "urgency"]) if (typeof x[k] === "string") out[k] = x[k];
  return Object.keys(out).length ? out : undefined;
}

/**
 * The entry as stored for each (ecosystem, package) it affects: the package is implied by where it is
 * stored, so `affected[].package` is dropped, as are details, references and unused database fields.
 */
export function splitByPackage(e: OsvEntry): { ecosystem: string; name: string; advisory: StoredAdvisory }[] {
  const groups = new Map<string, { ecosystem: string; name: string; affected: OsvAffected[] }>();
  for (const a of e.affected ?? []) {
    if (!a.package) continue;
    const key = `${a.package.ecosystem}\t${a.package.name}`;
    const g = groups.get(key) ?? { ecosystem: a.package.ecosystem, name: a.package.name, affected: [] };
    const eco = severityWords(a.ecosystem_specific);
    const db = severityWords(a.database_specific);
    g.affected.push({
      ...(a.ranges ? { ranges: a.ranges.map((r) => ({ type: r.type, events: r.events })) } : {}),
      ...(a.versions?.length ? { versions: a.versions } : {}),
      ...(a.severity?.length ? { severity: a.severity } : {}),
      ...(eco ? { ecosystem_specific: eco } : {}),
      ...(db ? { database_specific: db } : {}),
    });
    groups.set(key, g);
  }
  const dbWords = severityWords(e.database_specific);
  return [...groups.values()].map((g) => ({
    ecosystem: g.ecosystem,
    name: g.name,
    advisory: {
      id: e.id,
      modified: e.modified,
      ...(e.aliases?.length ? { aliases: e.aliases } : {}),
      ...(e.summary ? { summary: e.summary } : {}),
      ...(e.withdrawn ? { withdrawn: e.withdrawn } : {}),
      ...(e.severity?.length ? { severity: e.severity } : {}),
      ...(dbWords ? { database_specific: dbWords } : {}),
      affected: g.affected,
    },
  }));
}
