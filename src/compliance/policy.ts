/**
 * Licence policy: `[policy] allow = [...]` and `deny = [...]` in a kiln.toml, each entry one SPDX licence
 * (an id, `id+`, or `id WITH exception`; spdx-satisfies takes no AND/OR in a list).
 *
 * - allow: a part's expression must be satisfiable with allowed licences only (spdx-satisfies; "MIT OR
 *   GPL-3.0-only" passes an allow-list with MIT). A licence WITH an exception also passes when its base
 *   licence is allowed: exceptions only grant more.
 * - deny: a part violates when every way of taking its expression (each alternative of an OR) includes a
 *   licence that satisfies a deny entry (its base licence too, exceptions aside). So "MIT OR GPL-3.0-only"
 *   does not violate deny = ["GPL-3.0-or-later"], and "MIT AND GPL-3.0-only" does.
 * - Parts with licence NONE (kiln's generated config) are not checked; NOASSERTION (unknown) fails an
 *   allow-list unless it lists "NOASSERTION", and never matches a deny entry.
 */
import { join } from "node:path";
import { parse as parseToml } from "smol-toml";
import satisfies from "spdx-satisfies";
import { KilnError, q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { readUserFile } from "../core/userFile.js";
import type { PolicyOverride } from "../manifest/imageManifest.js";
import {
  type LicenseAst,
  type LicenseLeaf,
  NOASSERTION,
  NONE,
  parseLicenseExpression,
  renderLicense,
} from "./licenseExpression.js";
import type { Part } from "./parts.js";

export type { PolicyOverride };

export interface LicensePolicy {
  allow?: string[];
  deny?: string[];
  /** Where the policy came from (for messages). */
  source?: string;
}

export interface PolicyViolation {
  part: string;
  name: string;
  path?: string;
  license: string;
  rule: "allow" | "deny";
  /** The licences in the part's expression that broke the rule. */
  offending: string[];
  /** For deny: the entry they matched. */
  entry?: string;
}

/** Check and normalise a policy (from a file or from code): entries must be single SPDX licences. */
export function parsePolicy(value: unknown, source = "policy"): LicensePolicy {
  if (value === undefined || value === null) return { source };
  if (typeof value !== "object" || Array.isArray(value))
    throw usageError(
      "KILN_EPOLICY_INVALID",
      `Cannot read the licence policy in ${q(source)}: [policy] is not a table`,
      'Write [policy] with allow = ["MIT", ...] and/or deny = [...].',
    );
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (k !== "allow" && k !== "deny")
      throw usageError(
        "KILN_EPOLICY_INVALID",
        `Unknown key ${q(k)} in the licence policy of ${q(source)}`,
        "The [policy] table takes allow and deny (lists of SPDX licences).",
      );
  }
  const list = (key: "allow" | "deny"): string[] | undefined => {
    const x = v[key];
    if (x === undefined) return undefined;
    if (!Array.isArray(x) || x.some((e) => typeof e !== "string"))
      throw usageError(
        "KILN_EPOLICY_INVALID",
        `The licence policy's ${key} in ${q(source)} is not a list of strings`,
        `Write ${key} = ["MIT", "Apache-2.0"].`,
      );
    return (x as string[]).map((e) => {
      if (e === NOASSERTION) return e;
      const { ast, expression } = parseLicenseExpression(e, `the policy's ${key} list in ${source}`);
      if ("conjunction" in ast)
        throw usageError(
          "KILN_EPOLICY_INVALID",
          `Policy entry ${q(e)} in ${q(source)} combines licences with AND/OR`,
          `List each licence on its own: ${key} = ["MIT", "ISC"].`,
        );
      return expression;
    });
  };
  const allow = list("allow");
  const deny = list("deny");
  return { ...(allow ? { allow } : {}), ...(deny ? { deny } : {}), source };
}

/**
 * The policy of a project: `file` if given (a kiln.toml, or any TOML with a [policy] table), else
 * `dir`/kiln.toml when it exists. Undefined when there is none.
 */
export async function loadPolicy(opts: { file?: string; dir?: string }): Promise<LicensePolicy | undefined> {
  const path = opts.file ?? (opts.dir ? join(opts.dir, "kiln.toml") : undefined);
  if (!path) return undefined;
  let text: string;
  try {
    text = await readUserFile(path, "licence policy", "utf8");
  } catch (e) {
    if (!opts.file && (e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw missingOr(e, path, "read the licence policy", () =>
      usageError(
        "KILN_EPOLICY_NOT_FOUND",
        `Cannot read the licence policy ${q(path)}: no such file`,
        "Give the path of a kiln.toml with a [policy] table.",
      ),
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw usageError(
      "KILN_EPOLICY_INVALID",
      `Cannot parse ${q(path)} as TOML: ${(e as Error).message.split("\n")[0]}`,
      "Fix the TOML syntax.",
    );
  }
  if (doc.policy === undefined) return opts.file ? { source: path } : undefined;
  return parsePolicy(doc.policy, path);
}

/** The alternatives of an expression: each a list of licences that must all be honoured. */
function alternatives(ast: LicenseAst): LicenseLeaf[][] {
  if ("license" in ast) return [[ast]];
  const l = alternatives(ast.left);
  const r = alternatives(ast.right);
  if (ast.conjunction === "or") return [...l, ...r];
  return l.flatMap((a) => r.map((b) => [...a, ...b]));
}

const base = (leaf: LicenseLeaf): string => `${leaf.license}${leaf.plus ? "+" : ""}`;

function safeSatisfies(expr: string, list: readonly string[]): boolean {
  // spdx-satisfies cannot parse NOASSERTION in its list; it is handled before we get here.
  const ids = list.filter((x) => x !== NOASSERTION);
  if (ids.length === 0) return false;
  try {
    return satisfies(expr, ids);
  } catch {
    return false;
  }
}

function allowedLeaf(leaf: LicenseLeaf, allow: readonly string[]): boolean {
  if (leaf.license === NOASSERTION) return allow.includes(NOASSERTION);
  return safeSatisfies(renderLicense(leaf), allow) || safeSatisfies(base(leaf), allow);
}

function deniedBy(leaf: LicenseLeaf, deny: readonly string[]): string | undefined {
  if (leaf.license === NOASSERTION) return undefined;
  return deny.find((d) => safeSatisfies(renderLicense(leaf), [d]) || safeSatisfies(base(leaf), [d]));
}

/** Every part that breaks the policy, in part order. */
export function checkPolicy(parts: readonly Part[], policy: LicensePolicy): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  for (const p of parts) {
    if (p.license === NONE) continue;
    const alts = alternatives(parseLicenseExpression(p.license).ast);
    const who = { part: p.id, name: p.name, ...(p.path ? { path: p.path } : {}), license: p.license };
    if (policy.allow) {
      const allow = policy.allow;
      const ok = alts.some((alt) => alt.every((leaf) => allowedLeaf(leaf, allow)));
      if (!ok) {
        const best = alts
          .map((alt) => alt.filter((leaf) => !allowedLeaf(leaf, allow)).map((leaf) => renderLicense(leaf)))
          .sort((a, b) => a.length - b.length)[0]!;
        out.push({ ...who, rule: "allow", offending: [...new Set(best)] });
      }
    }
    if (policy.deny?.length) {
      const deny = policy.deny;
      const hits = alts.map((alt) =>
        alt.flatMap((leaf) => {
          const d = deniedBy(leaf, deny);
          return d ? [{ leaf: renderLicense(leaf), entry: d }] : [];
        }),
      );
      if (hits.every((h) => h.length > 0)) {
        const first = hits[0]!;
        out.push({
          ...who,
          rule: "deny",
          offending: [...new Set(first.map((h) => h.leaf))],
          entry: first[0]!.entry,
        });
      }
    }
  }
  return out;
}

function describe(v: PolicyViolation): string {
  const where = v.path ? `${v.name} (${v.path})` : v.name;
  return v.rule === "deny"
    ? `${where} is licensed ${q(v.license)}: ${v.offending.join(", ")} matches deny entry ${q(v.entry)}`
    : v.license === NOASSERTION
      ? `${where} has no known licence (NOASSERTION), and the allow-list does not list NOASSERTION`
      : `${where} is licensed ${q(v.license)}: ${v.offending.join(", ")} is not on the allow-list`;
}

/** The error a bake (or `kiln licenses --check`) fails with: KILN_ELICENSE_DENIED naming the parts. */
export function policyError(violations: readonly PolicyViolation[], policy: LicensePolicy): KilnError {
  const lines = violations.slice(0, 5).map(describe);
  const more = violations.length > 5 ? `; and ${violations.length - 5} more` : "";
  return new KilnError(
    "KILN_ELICENSE_DENIED",
    `The licence policy${policy.source ? ` of ${q(policy.source)}` : ""} refuses ${violations.length} part${violations.length === 1 ? "" : "s"}: ${lines.join("; ")}${more}`,
    "Remove or replace the part, change the [policy], or bake with --allow-license-violations (recorded in the manifest).",
    { details: { violations } },
  );
}

/**
 * For bake: check `parts` against `policy`. Violations throw KILN_ELICENSE_DENIED unless
 * `allowViolations`; then the override to record in the manifest is returned. No violations: undefined.
 */
export function enforcePolicy(
  parts: readonly Part[],
  policy: LicensePolicy,
  opts: { allowViolations?: boolean } = {},
): PolicyOverride | undefined {
  const violations = checkPolicy(parts, policy);
  if (violations.length === 0) return undefined;
  if (!opts.allowViolations) throw policyError(violations, policy);
  return {
    v: 1,
    ...(policy.allow ? { allow: policy.allow } : {}),
    ...(policy.deny ? { deny: policy.deny } : {}),
    overridden: true,
    violations: violations.map((x) => ({
      part: x.part,
      license: x.license,
      rule: x.rule,
      offending: x.offending,
      ...(x.entry ? { entry: x.entry } : {}),
    })),
  };
}
