/**
 * `kiln audit`: match what an image is made of (or a list of Debian packages) against OSV advisories.
 * Debian parts are matched by their SOURCE package (what Debian's security data names: `linux`, `musl`) in
 * the ecosystems "Debian:<release>" and "Debian", with dpkg's version ordering; parts with a purl of
 * another type by that type's OSV ecosystem, with semver. Parts with no ecosystem (programs kiln cannot yet
 * trace to a package) are reported as not audited, never silently passed.
 *
 * Extension point: anything that can list (name, version, ecosystems) can be audited through
 * `auditTargets` — the project lockfile (kiln.lock, a later issue) will produce AuditTargets the same way.
 */
import { PackageURL } from "packageurl-js";
import { checkDebVersion } from "../core/debVersion.js";
import { q, usageError } from "../core/errors.js";
import type { AdvisoryDb } from "./advisoryStore.js";
import { matchAdvisory } from "./osvMatch.js";
import type { ImageParts, Part } from "./parts.js";
import { advisorySeverity, atLeast, LEVELS, type Severity, type SeverityLevel } from "./severity.js";

/** One thing to look up: a name and version in one or more ecosystems (first one that names it wins). */
export interface AuditTarget {
  /** Stable reference (a part id, or "deb:NAME"). */
  ref: string;
  name: string;
  version: string;
  ecosystems: string[];
  /** What to show: the part's name/path or the package as the user wrote it. */
  label: string;
}

export interface Finding {
  id: string;
  aliases: string[];
  summary?: string;
  severity: Severity;
  target: { ref: string; label: string; name: string; version: string };
  ecosystem: string;
  fixed?: string;
  lastAffected?: string;
  via: string;
}

export interface AuditReport {
  findings: Finding[];
  audited: { ref: string; label: string; name: string; version: string; ecosystems: string[] }[];
  notAudited: { ref: string; label: string; reason: string }[];
  counts: Record<SeverityLevel, number>;
  database: { sources: string[]; entries: number };
}

/** OSV ecosystem names for purl types (https://ossf.github.io/osv-schema/#affectedpackage-field). */
const PURL_ECOSYSTEMS: Record<string, string> = {
  npm: "npm",
  pypi: "PyPI",
  golang: "Go",
  cargo: "crates.io",
  maven: "Maven",
  gem: "RubyGems",
  nuget: "NuGet",
  composer: "Packagist",
  hex: "Hex",
  pub: "Pub",
  swift: "SwiftURL",
  alpine: "Alpine",
};

export function debianEcosystems(release: string | undefined): string[] {
  return release && release !== "unknown" ? [`Debian:${release}`, "Debian"] : ["Debian"];
}

function partLabel(p: Part): string {
  return p.path ? `${p.name} (${p.path})` : p.name;
}

/** What of an image can be audited, and why the rest cannot. */
export function targetsFromParts(img: ImageParts): {
  targets: AuditTarget[];
  notAudited: AuditReport["notAudited"];
} {
  const targets: AuditTarget[] = [];
  const notAudited: AuditReport["notAudited"] = [];
  for (const p of img.parts) {
    if (p.kind === "config" || p.kind === "module" || (p.kind === "file" && p.containedIn)) continue; // covered by their package
    if (p.debian) {
      targets.push({
        ref: p.id,
        name: p.debian.source,
        version: p.debian.sourceVersion,
        ecosystems: debianEcosystems(p.debian.release),
        label: partLabel(p),
      });
      continue;
    }
    const purl = p.purl ? safePurl(p.purl) : undefined;
    const eco = purl ? PURL_ECOSYSTEMS[purl.type] : undefined;
    if (purl && eco && purl.version) {
      const name = purl.namespace ? `${purl.namespace}${eco === "Maven" ? ":" : "/"}${purl.name}` : purl.name;
      targets.push({ ref: p.id, name, version: purl.version, ecosystems: [eco], label: partLabel(p) });
      continue;
    }
    notAudited.push({
      ref: p.id,
      label: partLabel(p),
      reason:
        p.kind === "init"
          ? "kiln's own code, in no advisory ecosystem (the musl it links is audited)"
          : p.purl?.startsWith("pkg:generic/")
            ? "no package ecosystem known for it (built outside a package)"
            : "no version or package identity",
    });
  }
  return { targets, notAudited };
}

function safePurl(s: string): PackageURL | undefined {
  try {
    return PackageURL.fromString(s);
  } catch {
    return undefined;
  }
}

/** Debian's signed kernel wrappers (linux-signed-amd64) carry `linux`'s versions; advisories name `linux`. */
export function advisorySource(source: string): string {
  return /^linux-signed(-|$)/.test(source) ? "linux" : source;
}

/** `--deb NAME=VERSION` (NAME a source package, or a binary one that `sources` maps to its source). */
export function targetsFromDebs(
  specs: readonly string[],
  release: string | undefined,
  sources: Record<string, string> = {},
): AuditTarget[] {
  return specs.map((spec) => {
    const i = spec.indexOf("=");
    const name = spec.slice(0, i).trim();
    const version = spec.slice(i + 1).trim();
    if (i <= 0 || !version || !/^[a-z0-9][a-z0-9.+-]*$/.test(name))
      throw usageError(
        "KILN_EAUDIT_DEB",
        `Cannot read --deb ${q(spec)}: expected NAME=VERSION`,
        "Write it like --deb linux=6.1.158-1 or --deb openssl=3.0.17-1~deb12u2 (Debian package names are lower-case).",
      );
    checkDebVersion(version, `version in --deb ${spec}`);
    const source = advisorySource(sources[name] ?? name);
    return {
      ref: `deb:${name}`,
      name: source,
      version,
      ecosystems: debianEcosystems(release),
      label: `${name} ${version}`,
    };
  });
}

/** Match targets against a database; one finding per (target, advisory id). */
export async function auditTargets(targets: readonly AuditTarget[], db: AdvisoryDb): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const t of targets) {
    const seen = new Set<string>();
    for (const eco of t.ecosystems) {
      for (const adv of await db.lookup(eco, t.name)) {
        if (seen.has(adv.id)) continue;
        const m = matchAdvisory(adv, t.version, eco);
        if (!m) continue;
        seen.add(adv.id);
        findings.push({
          id: adv.id,
          aliases: adv.aliases ?? [],
          ...(adv.summary ? { summary: adv.summary } : {}),
          severity: advisorySeverity(adv),
          target: { ref: t.ref, label: t.label, name: t.name, version: t.version },
          ecosystem: eco,
          ...(m.fixed ? { fixed: m.fixed } : {}),
          ...(m.lastAffected ? { lastAffected: m.lastAffected } : {}),
          via: m.via,
        });
      }
    }
  }
  const ranks = new Map(LEVELS.map((l, i) => [l, i]));
  const rank = (f: Finding) => ranks.get(f.severity.level)!;
  return findings.sort(
    (a, b) =>
      rank(b) - rank(a) ||
      (b.severity.score ?? 0) - (a.severity.score ?? 0) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) ||
      (a.target.ref < b.target.ref ? -1 : 1),
  );
}

export async function audit(
  targets: readonly AuditTarget[],
  db: AdvisoryDb,
  notAudited: AuditReport["notAudited"] = [],
): Promise<AuditReport> {
  const findings = await auditTargets(targets, db);
  const counts = Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<SeverityLevel, number>;
  for (const f of findings) counts[f.severity.level]++;
  return {
    findings,
    audited: targets.map((t) => ({
      ref: t.ref,
      label: t.label,
      name: t.name,
      version: t.version,
      ecosystems: t.ecosystems,
    })),
    notAudited,
    counts,
    database: db.describe(),
  };
}

export function failLevel(value: string): SeverityLevel {
  const v = value.toLowerCase();
  if (!(LEVELS as readonly string[]).includes(v))
    throw usageError(
      "KILN_EAUDIT_LEVEL",
      `Unknown severity ${q(value)} for --fail-on`,
      "Use --fail-on low, medium, high or critical (or unknown: fail on any finding).",
    );
  return v as SeverityLevel;
}

/** Whether a report fails at `threshold`: any finding at or above it. */
export function failsAt(report: AuditReport, threshold: SeverityLevel): boolean {
  return report.findings.some((f) => atLeast(f.severity.level, threshold));
}
