/**
 * OSV (Open Source Vulnerability format, https://ossf.github.io/osv-schema/) entries: the fields kiln uses,
 * checked leniently (unknown fields pass, so newer schema versions still import), and trimmed for the
 * store (details and references are long and not needed to match or report).
 */
import { z } from "zod";

const Event = z
  .object({
    introduced: z.string().optional(),
    fixed: z.string().optional(),
    last_affected: z.string().optional(),
    limit: z.string().optional(),
  })
  .refine((e) => Object.values(e).filter((v) => v !== undefined).length === 1, {
    message: "each event has exactly one of introduced, fixed, last_affected, limit",
  });

const Range = z.object({
  type: z.string().min(1),
  repo: z.string().optional(),
  events: z.array(Event).min(1),
});

const Severity = z.object({ type: z.string().min(1), score: z.string().min(1) });

const Affected = z.object({
  package: z
    .object({ ecosystem: z.string().min(1), name: z.string().min(1), purl: z.string().optional() })
    .optional(),
  ranges: z.array(Range).optional(),
  versions: z.array(z.string()).optional(),
  severity: z.array(Severity).optional(),
  ecosystem_specific: z.record(z.string(), z.unknown()).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
});

export const OsvEntry = z.object({
  schema_version: z.string().optional(),
  id: z.string().min(1),
  modified: z.string().min(1),
  published: z.string().optional(),
  withdrawn: z.string().optional(),
  aliases: z.array(z.string()).optional(),
  related: z.array(z.string()).optional(),
  summary: z.string().optional(),
  details: z.string().optional(),
  severity: z.array(Severity).optional(),
  affected: z.array(Affected).optional(),
  references: z.array(z.unknown()).optional(),
  database_specific: z.record(z.string(), z.unknown()).optional(),
});
export type OsvEntry = z.infer<typeof OsvEntry>;
export type OsvAffected = z.infer<typeof Affected>;
export type OsvRange = z.infer<typeof Range>;
export type OsvSeverity = z.infer<typeof Severity>;

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

/**
 * Parse one file's text: an OSV entry or a list of them. Returns the valid entries and, for the invalid,
 * a reason (the first schema issue, with its JSON path).
 */
export function parseOsv(text: string): { entries: OsvEntry[]; errors: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { entries: [], errors: [`not JSON (${(e as Error).message})`] };
  }
  const items = Array.isArray(json) ? json : [json];
  const entries: OsvEntry[] = [];
  const errors: string[] = [];
  for (const [i, item] of items.entries()) {
    const r = OsvEntry.safeParse(item);
    if (r.success) entries.push(r.data);
    else {
      const issue = r.error.issues[0]!;
      const at = [...(Array.isArray(json) ? [i] : []), ...issue.path].join(".");
      errors.push(`${at ? `at ${at}: ` : ""}${issue.message}`);
    }
  }
  return { entries, errors };
}

/** The entry as stored for each (ecosystem, package) it affects. */
export function splitByPackage(e: OsvEntry): { ecosystem: string; name: string; advisory: StoredAdvisory }[] {
  const groups = new Map<string, { ecosystem: string; name: string; affected: OsvAffected[] }>();
  for (const a of e.affected ?? []) {
    if (!a.package) continue;
    const key = `${a.package.ecosystem}\t${a.package.name}`;
    const g = groups.get(key) ?? { ecosystem: a.package.ecosystem, name: a.package.name, affected: [] };
    g.affected.push(a);
    groups.set(key, g);
  }
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
      ...(e.database_specific ? { database_specific: e.database_specific } : {}),
      affected: g.affected,
    },
  }));
}
