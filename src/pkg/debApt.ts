/**
 * A Debian package and its run-time dependencies, as apt knows them (no root needed): one
 * `apt-cache depends --recurse` for every name that could be reached, one `apt-cache policy` for the
 * versions apt would install, one `apt-cache show` for their records (Depends, Provides, the SHA256 the
 * signed archive index gives), then the walk over Pre-Depends and Depends is done here, so that packages
 * needed only by maintainer scripts (and Essential ones, present on every Debian system) are left out.
 * The host's installed packages play no part: apt is run with an empty dpkg status.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseParagraphs } from "../core/debPackage.js";
import { compareDebVersions } from "../core/debVersion.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { exec } from "../core/exec.js";

export interface DebRecord {
  name: string;
  version: string;
  architecture: string;
  /** The .deb's sha256, from the archive index apt verified. */
  sha256: string;
  size: number;
  /** The source package and its version (what Debian's security data names). */
  source: string;
  sourceVersion: string;
  essential: boolean;
  depends: string;
  preDepends: string;
  provides: string[];
}

/** Packages left out unless a recipe asks for them: they serve maintainer scripts, not programs. */
export const DEFAULT_EXCLUDE: readonly string[] = [
  "adduser",
  "debconf",
  "debconf-2.0",
  "init-system-helpers",
  "lsb-base",
  "passwd",
  "sysvinit-utils",
  "usrmerge",
  "usr-is-merged",
  "perl-base",
  "dpkg",
  "install-info",
];

const APT_OPTS = ["-o", "Dir::State::status=/dev/null", "-o", "APT::Architecture=amd64"];

export interface DebClosure {
  /** The packages to download, sorted by name; the root first is not implied. */
  packages: DebRecord[];
  /** Dependencies left out (excluded, Essential), sorted. */
  skipped: string[];
}

/** The root package and everything it needs at run time, as exact versions with digests. */
export async function aptClosure(
  root: { name: string; version?: string },
  opts: { exclude?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<DebClosure> {
  const env = opts.env ?? process.env;
  const names = await reachable(root.name, env);
  const [candidates, records] = await Promise.all([policy(names, env), show(names, env)]);
  const byName = new Map<string, DebRecord[]>();
  for (const r of records) {
    const list = byName.get(r.name) ?? [];
    list.push(r);
    byName.set(r.name, list);
  }
  const providers = new Map<string, string[]>();
  for (const r of records) {
    for (const p of r.provides)
      if (!providers.get(p)?.includes(r.name)) providers.set(p, [...(providers.get(p) ?? []), r.name]);
  }
  const exclude = new Set([...DEFAULT_EXCLUDE, ...(opts.exclude ?? [])]);
  const chosen = new Map<string, DebRecord>();
  const skipped = new Set<string>();

  const pick = (name: string, rel?: { op: string; version: string }): DebRecord | undefined => {
    const list = byName.get(name) ?? [];
    const cand = candidates.get(name);
    const fits = (r: DebRecord) => !rel || satisfies(r.version, rel.op, rel.version);
    const c = list.find((r) => r.version === cand && fits(r));
    if (c) return c;
    return list.filter(fits).sort((a, b) => compareDebVersions(b.version, a.version))[0];
  };

  const first = root.version
    ? byName.get(root.name)?.find((r) => r.version === root.version)
    : pick(root.name);
  if (!first) {
    const have = (byName.get(root.name) ?? []).map((r) => r.version);
    throw usageError(
      "KILN_EDEB_NOT_FOUND",
      have.length
        ? `Debian package ${q(root.name)} has no version ${q(root.version)} that apt knows (it has ${have.join(", ")})`
        : `apt knows no Debian package ${q(root.name)}`,
      "Check the name with `apt-cache search NAME`; run `apt-get update` (as root) if apt's lists are old.",
    );
  }
  const queue: DebRecord[] = [first];
  chosen.set(first.name, first);
  while (queue.length) {
    const rec = queue.shift()!;
    for (const group of parseDepends([rec.preDepends, rec.depends].filter(Boolean).join(", "))) {
      // A dependency pinned to one exact version is a part of the same program, split across packages
      // (perl on perl-base, which holds /usr/bin/perl): it comes in though kiln leaves the package out by
      // default or it is Essential. What the recipe or the user excludes stays out.
      const pinned =
        group.length === 1 && group[0]!.rel?.op === "=" && !opts.exclude?.includes(group[0]!.name);
      if (!pinned && group.some((alt) => exclude.has(alt.name))) {
        for (const alt of group) if (exclude.has(alt.name)) skipped.add(alt.name);
        continue;
      }
      if (
        group.some(
          (alt) => chosen.has(alt.name) || (providers.get(alt.name) ?? []).some((p) => chosen.has(p)),
        )
      )
        continue;
      let got: DebRecord | undefined;
      let onlyProvider = false;
      for (const alt of group) {
        got = pick(alt.name, alt.rel);
        if (!got && !alt.rel) {
          // A virtual package: the first provider apt knows (sorted, for determinism).
          const all = [...(providers.get(alt.name) ?? [])].sort();
          for (const p of all) {
            if (exclude.has(p)) continue;
            got = pick(p);
            if (got) break;
          }
          // Provided only by a package kiln leaves out by default (perlapi-5.36.0 by perl-base, which also
          // holds /usr/bin/perl): apt would install it, so it comes in, Essential or not. A package the
          // recipe itself excludes stays out.
          if (!got) {
            const p = all.find((n) => DEFAULT_EXCLUDE.includes(n) && !opts.exclude?.includes(n));
            got = p ? pick(p) : undefined;
            onlyProvider = got !== undefined;
          }
        }
        if (got) break;
      }
      if (!got) {
        throw new KilnError(
          "KILN_EDEB_DEPENDS",
          `Cannot satisfy ${q(group.map((a) => `${a.name}${a.rel ? ` (${a.rel.op} ${a.rel.version})` : ""}`).join(" | "))}, needed by Debian package ${q(`${rec.name}=${rec.version}`)}`,
          "Run `apt-get update` (as root); if apt cannot install it either, add the name to [deb] exclude in the recipe.",
        );
      }
      if (got.essential && got.name !== root.name && !onlyProvider && !pinned) {
        skipped.add(got.name);
        continue;
      }
      if (!chosen.has(got.name)) {
        chosen.set(got.name, got);
        queue.push(got);
      }
    }
  }
  return {
    packages: [...chosen.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    skipped: [...skipped].filter((n) => !chosen.has(n)).sort(),
  };
}

/** Every name `apt-cache depends --recurse` reaches (a superset of what the walk needs). */
async function reachable(name: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const r = await exec(
    "apt-cache",
    [
      ...APT_OPTS,
      "depends",
      "--recurse",
      "--no-recommends",
      "--no-suggests",
      "--no-conflicts",
      "--no-breaks",
      "--no-replaces",
      "--no-enhances",
      name,
    ],
    { env, check: false },
  );
  if (r.code !== 0 || !r.stdout.trim()) {
    throw usageError(
      "KILN_EDEB_NOT_FOUND",
      `apt knows no Debian package ${q(name)}${r.stderr.trim() ? `: ${r.stderr.trim().split("\n")[0]}` : ""}`,
      "Check the name with `apt-cache search NAME`; run `apt-get update` (as root) if apt's lists are old.",
    );
  }
  const out = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const m = /^<?([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?>?\s*$/.exec(line);
    if (m) out.add(m[1]!);
    const d = /^\s+\|?(?:Pre)?Depends:\s+<?([a-z0-9][a-z0-9+.-]+)/.exec(line);
    if (d) out.add(d[1]!);
    const p = /^\s{4}([a-z0-9][a-z0-9+.-]+)\s*$/.exec(line);
    if (p) out.add(p[1]!);
  }
  return [...out].sort();
}

async function policy(names: string[], env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const r = await exec("apt-cache", [...APT_OPTS, "policy", ...names], { env, check: false });
  const out = new Map<string, string>();
  let cur: string | undefined;
  for (const line of r.stdout.split("\n")) {
    const h = /^([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?:$/.exec(line);
    if (h) cur = h[1];
    const c = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (c && cur && c[1] !== "(none)") out.set(cur, c[1]!);
  }
  return out;
}

async function show(names: string[], env: NodeJS.ProcessEnv): Promise<DebRecord[]> {
  // Virtual names make apt-cache show fail as a whole ("No packages found"); ask for real ones only.
  const r = await exec("apt-cache", [...APT_OPTS, "show", ...names], { env, check: false });
  return parseParagraphs(r.stdout)
    .filter(
      (p) => p.Package && p.Version && p.SHA256 && (p.Architecture === "amd64" || p.Architecture === "all"),
    )
    .map((p) => {
      const src = /^(\S+)(?:\s+\((\S+)\))?/.exec(p.Source ?? "");
      return {
        name: p.Package!,
        version: p.Version!,
        architecture: p.Architecture!,
        sha256: p.SHA256!.toLowerCase(),
        size: Number(p.Size ?? 0),
        source: src?.[1] ?? p.Package!,
        sourceVersion: src?.[2] ?? p.Version!,
        essential: p.Essential === "yes",
        depends: p.Depends ?? "",
        preDepends: p["Pre-Depends"] ?? "",
        provides: (p.Provides ?? "")
          .split(",")
          .map((s) => s.trim().split(/[\s(]/)[0]!)
          .filter(Boolean),
      };
    });
}

interface Alt {
  name: string;
  rel?: { op: string; version: string };
}

/** "a (>= 1) | b:any, c [amd64]" → [[a >= 1, b], [c]]. */
export function parseDepends(field: string): Alt[][] {
  const groups: Alt[][] = [];
  for (const g of field.split(",")) {
    const alts: Alt[] = [];
    for (const a of g.split("|")) {
      const m = /^\s*([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?/.exec(
        a,
      );
      if (m) alts.push({ name: m[1]!, ...(m[2] ? { rel: { op: m[2], version: m[3]! } } : {}) });
    }
    if (alts.length) groups.push(alts);
  }
  return groups;
}

function satisfies(v: string, op: string, want: string): boolean {
  const c = compareDebVersions(v, want);
  switch (op) {
    case "<<":
      return c < 0;
    case "<=":
      return c <= 0;
    case "=":
      return c === 0;
    case ">=":
      return c >= 0;
    case ">>":
      return c > 0;
    default:
      return false;
  }
}

/**
 * Download exact versions into `dir` with one `apt-get download` (no root), and check each file against
 * the SHA256 apt's index gives before returning it. Returns name → path.
 */
export async function aptDownloadAll(
  recs: readonly DebRecord[],
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (recs.length === 0) return out;
  const r = await exec("apt-get", ["download", "-q", ...recs.map((p) => `${p.name}=${p.version}`)], {
    cwd: dir,
    env,
    check: false,
  });
  const files = await readdir(dir);
  const { sha256File } = await import("../core/digest.js");
  for (const rec of recs) {
    // apt-get names files NAME_VERSION_ARCH.deb with the epoch's ':' written as %3a.
    const want = `${rec.name}_${rec.version.replace(/:/g, "%3a")}_${rec.architecture}.deb`;
    const f = files.find((x) => x === want);
    if (!f) {
      throw new KilnError(
        "KILN_EDOWNLOAD",
        `Cannot download ${q(`${rec.name}=${rec.version}`)} with apt-get: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `status ${r.code}`}`,
        "Check the network and apt's sources (`apt-get update`).",
      );
    }
    const path = join(dir, f);
    const got = await sha256File(path);
    if (got !== rec.sha256) {
      throw new KilnError(
        "KILN_EDIGEST",
        `Digest mismatch for ${q(f)}: apt's index says sha256 ${rec.sha256}, the file is ${got}`,
        "The download is corrupt or not the package apt's signed index names; nothing was kept. Run `apt-get update` and try again.",
        { details: { expected: rec.sha256, actual: got } },
      );
    }
    out.set(rec.name, path);
  }
  return out;
}

/** Changes when apt's package lists or preferences change: the key for cached resolutions. */
export async function aptStateDigest(): Promise<string> {
  const parts: string[] = [];
  for (const dir of ["/var/lib/apt/lists", "/etc/apt/preferences.d", "/etc/apt/sources.list.d"]) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names.sort()) {
      const st = await stat(join(dir, n)).catch(() => undefined);
      if (st?.isFile()) parts.push(`${dir}/${n} ${st.size} ${st.mtimeMs}`);
    }
  }
  for (const f of ["/etc/apt/preferences", "/etc/apt/sources.list"]) {
    const st = await stat(f).catch(() => undefined);
    if (st) parts.push(`${f} ${st.size} ${st.mtimeMs}`);
  }
  return sha256(parts.join("\n"));
}
