/**
 * The OSV schema check for imports (zod; loaded only when importing: `kiln audit` never needs it).
 * Lenient: unknown fields pass, so entries of newer schema versions still import.
 */
import { z } from "zod";
import type { OsvEntry } from "./osv.js";

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

export const OsvEntrySchema = z.object({
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
    const r = OsvEntrySchema.safeParse(item);
    if (r.success) entries.push(r.data as OsvEntry);
    else {
      const issue = r.error.issues[0]!;
      const at = [...(Array.isArray(json) ? [i] : []), ...issue.path].join(".");
      errors.push(`${at ? `at ${at}: ` : ""}${issue.message}`);
    }
  }
  return { entries, errors };
}
