import type { Command } from "commander";
import { q, usageError } from "../../core/errors.js";
import { type CommonOpts, cliState, progressFor, report, table, withCommon } from "../context.js";

interface AuditCliOpts extends CommonOpts {
  deb: string[];
  db?: string;
  failOn?: string;
  debianRelease?: string;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  withCommon(
    program
      .command("audit")
      .description("match an image's parts (or Debian packages) against the imported OSV advisories")
      .argument("[image]", "image directory written by `kiln bake`")
      .option("--deb <name=version>", "audit a Debian package version instead (repeatable)", collect, [])
      .option("--db <path>", "use this directory or .zip of OSV files instead of the imported ones")
      .option("--fail-on <level>", "exit 1 when a finding is at or above: low, medium, high, critical")
      .option("--debian-release <n>", "Debian release for --deb (default: this host's)")
      .addHelpText(
        "after",
        "\nExamples:\n  kiln advisories import Debian/all.zip && kiln audit out/hello\n  kiln audit out/hello --fail-on high --json\n  kiln audit --deb linux=6.1.158-1 --deb libssl3=3.0.17-1~deb12u2",
      ),
  ).action(async (image: string | undefined, opts: AuditCliOpts) => {
    if (!image && opts.deb.length === 0)
      throw usageError(
        "KILN_EUSAGE",
        "audit needs an IMAGE or --deb NAME=VERSION",
        "Run `kiln audit out/hello`, or `kiln audit --deb linux=6.1.158-1`.",
      );
    if (opts.debianRelease !== undefined && !/^\d+$/.test(opts.debianRelease))
      throw usageError(
        "KILN_EAUDIT_RELEASE",
        `Unknown Debian release ${q(opts.debianRelease)} for --debian-release`,
        "Give the release's number, as OSV's Debian ecosystems name it: --debian-release 12.",
      );
    const a = await import("../../compliance/audit.js");
    const threshold = opts.failOn ? a.failLevel(opts.failOn) : undefined;
    const store = await import("../../compliance/advisoryStore.js");
    const progress = await progressFor(opts);
    let db: Awaited<ReturnType<typeof store.openAdvisoryStore>>;
    if (opts.db) {
      const r = await store.advisoryDbFromPath(opts.db, progress);
      if (!opts.json && !opts.quiet)
        for (const s of r.skipped) process.stderr.write(`kiln: warning: skipped ${s.file}: ${s.reason}\n`);
      db = r.db;
    } else db = await store.openAdvisoryStore();
    try {
      if (db.describe().sources.length === 0)
        throw usageError(
          "KILN_EADVISORIES_NONE",
          "No advisories to audit against: none imported and no --db given",
          "Import OSV advisories first (`kiln advisories import Debian/all.zip`, from osv.dev), or pass --db PATH.",
        );
      const targets: import("../../compliance/audit.js").AuditTarget[] = [];
      let notAudited: import("../../compliance/audit.js").AuditReport["notAudited"] = [];
      const warnings: string[] = [];
      if (image) {
        const { imageParts } = await import("../../compliance/sbom.js");
        const parts = await imageParts(image);
        const t = a.targetsFromParts(parts);
        targets.push(...t.targets);
        notAudited = t.notAudited;
        warnings.push(...parts.warnings);
      }
      if (opts.deb.length) {
        const facts = await import("../../compliance/debianFacts.js");
        const names = opts.deb.map((d) => d.slice(0, Math.max(0, d.indexOf("="))));
        const [sources, host] = await Promise.all([
          facts.debSourceNames(names),
          opts.debianRelease ? Promise.resolve(undefined) : facts.hostDebianFacts([]),
        ]);
        targets.push(...a.targetsFromDebs(opts.deb, opts.debianRelease ?? host?.release, sources));
      }
      const r = await a.audit(targets, db, notAudited);
      if (!opts.json && !opts.quiet) for (const w of warnings) process.stderr.write(`kiln: warning: ${w}\n`);
      if (threshold && a.failsAt(r, threshold)) cliState.exitCode = 1;
      report(
        opts,
        { ...r, ...(threshold ? { failOn: threshold, failed: cliState.exitCode === 1 } : {}) },
        (x) => {
          const lines: string[] = [];
          if (x.findings.length === 0)
            lines.push(`no known vulnerabilities in ${x.audited.length} audited parts`);
          else
            lines.push(
              table([
                ["advisory", "severity", "part", "version", "fixed in", "aliases"],
                ...x.findings.map((f) => [
                  f.id,
                  `${f.severity.level}${f.severity.score !== undefined ? ` ${f.severity.score}` : ""}`,
                  f.target.label,
                  f.target.version,
                  f.fixed ?? "(no fix)",
                  f.aliases.join(" "),
                ]),
              ]),
            );
          const c = x.counts;
          if (x.findings.length)
            lines.push(
              `\n${x.findings.length} finding(s): ${c.critical} critical, ${c.high} high, ${c.medium} medium, ${c.low} low, ${c.unknown} unknown severity`,
            );
          if (x.notAudited.length)
            lines.push(`not audited:\n${x.notAudited.map((n) => `  ${n.label}: ${n.reason}`).join("\n")}`);
          lines.push(`advisories: ${x.database.entries} from ${x.database.sources.join(", ")}`);
          return lines.join("\n");
        },
      );
    } finally {
      await db.close();
    }
  });
}
