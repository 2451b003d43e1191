/**
 * Dependency resolution over semver ranges: which exact version of every package a project needs.
 *
 * The search is a depth-first one with forward checking and conflict-directed backjumping: a version is
 * chosen only if every range it adds still leaves each dependency a version to pick; when a package runs
 * out of versions, the search jumps straight back to the most recent choice that caused it (not merely the
 * previous one), carrying the reasons along, so that a failure is reported as the clash a person can act
 * on ("app 1.2.0 needs libfoo ^2, but libbar 0.3.0 needs libfoo ^1").
 */
import semver from "semver";
import { q, usageError } from "../core/errors.js";

/** One version of a package as the solver sees it. */
export interface Candidate {
  version: string;
  /** Name → semver range; build-time and run-time dependencies together (one version per name). */
  dependencies: Readonly<Record<string, string>>;
}

/**
 * Resolver: where the solver learns which versions of a package exist and what each one needs. The
 * directory, HTTP and OCI repositories implement it, and so do tests and the benchmark (a plain map).
 *
 * Contract:
 * - `versions(name)` gives every version of `name` this resolver can supply, each with its dependency
 *   ranges. A name it does not know gives `[]`; it throws (a KilnError) only when it cannot tell, such as a
 *   repository that does not answer, never to say "not found".
 * - Versions are valid semver strings, each listed once; order does not matter (the solver sorts).
 * - Answers are stable for the life of one resolution: the solver asks once per name and keeps the answer.
 *   It asks for every name reachable through any version, before the search starts, so that the search
 *   itself is synchronous and cheap; a resolver should therefore answer a name without fetching the
 *   contents of packages (metadata only).
 * - It has no say in which version wins: preference (newest, or the one in kiln.lock) is the solver's.
 */
export interface Resolver {
  versions(name: string): Promise<readonly Candidate[]>;
}

/** A Resolver over data already in memory. */
export function memoryResolver(packages: ReadonlyMap<string, readonly Candidate[]>): Resolver {
  return { versions: async (name) => packages.get(name) ?? [] };
}

export interface RootRequest {
  /** How messages name the root ("app 1.2.0", or "kiln.toml" for a plain project). */
  label: string;
  dependencies: Readonly<Record<string, string>>;
  /** More ranges on the same names (build-dependencies); both must hold. */
  extra?: Readonly<Record<string, string>>;
}

export interface ResolveOptions {
  /** Versions to try first when they fit (those in kiln.lock), so that resolving again changes little. */
  prefer?: ReadonlyMap<string, string>;
}

export interface ResolvedPackage {
  name: string;
  version: string;
  /** Name → the exact version chosen for each dependency. */
  dependencies: Record<string, string>;
}

export interface Resolution {
  /** Sorted by name. */
  packages: ResolvedPackage[];
  /** How many choices were tried and undone (0 when the newest versions fit at once). */
  backtracks: number;
}

interface Constraint {
  range: string;
  /** Bit i set: candidate i of the package satisfies the range. */
  mask: Uint32Array;
  /** Decision level that added it; -1 for the root. */
  level: number;
  /** Who needs it ("app 1.2.0", or the root label). */
  from: string;
}

interface Pkg {
  name: string;
  candidates: Candidate[];
  constraints: Constraint[];
  /** Index of the chosen candidate, -1 while undecided. */
  chosen: number;
  level: number;
}

interface Decision {
  pkg: Pkg;
  next: number;
  conflict: Set<number>;
  reasons: string[];
  /** Packages that received constraints from this decision (to undo). */
  touched: Pkg[];
}

const ROOT = -1;

/** Resolve `root`'s dependencies; throws KILN_ERESOLVE (a usage error) explaining a conflict. */
export async function resolve(
  root: RootRequest,
  resolver: Resolver,
  opts: ResolveOptions = {},
): Promise<Resolution> {
  const pkgs = await collect(root, resolver, opts.prefer);
  return solve(root, pkgs);
}

/** Ask the resolver for every name reachable from the root through any version, a batch at a time. */
async function collect(
  root: RootRequest,
  resolver: Resolver,
  prefer?: ReadonlyMap<string, string>,
): Promise<Map<string, Pkg>> {
  const pkgs = new Map<string, Pkg>();
  const seen = new Set<string>();
  let wave = [...new Set([...Object.keys(root.dependencies), ...Object.keys(root.extra ?? {})])];
  for (const n of wave) seen.add(n);
  while (wave.length) {
    const answers = await Promise.all(wave.map((n) => resolver.versions(n)));
    const next: string[] = [];
    for (const [i, name] of wave.entries()) {
      const list = [...answers[i]!];
      const want = prefer?.get(name);
      list.sort((a, b) => {
        if (want !== undefined && (a.version === want) !== (b.version === want))
          return a.version === want ? -1 : 1;
        return semver.rcompare(a.version, b.version);
      });
      pkgs.set(name, { name, candidates: list, constraints: [], chosen: -1, level: -1 });
      for (const c of list) {
        for (const d of Object.keys(c.dependencies)) {
          if (!seen.has(d)) {
            seen.add(d);
            next.push(d);
          }
        }
      }
    }
    wave = next;
  }
  return pkgs;
}

function solve(root: RootRequest, pkgs: Map<string, Pkg>): Resolution {
  const masks = new Map<string, Uint32Array>();
  const maskOf = (p: Pkg, range: string): Uint32Array => {
    const key = `${p.name}\0${range}`;
    let m = masks.get(key);
    if (!m) {
      m = new Uint32Array((p.candidates.length + 31) >>> 5);
      const r = new semver.Range(range);
      for (const [i, c] of p.candidates.entries()) if (r.test(c.version)) m[i >>> 5]! |= 1 << (i & 31);
      masks.set(key, m);
    }
    return m;
  };
  const has = (m: Uint32Array, i: number) => (m[i >>> 5]! & (1 << (i & 31))) !== 0;
  /** Candidates allowed by all constraints, counted (and the combined mask). */
  const allowed = (p: Pkg, extra?: Uint32Array): { mask: Uint32Array; count: number } => {
    const mask = new Uint32Array((p.candidates.length + 31) >>> 5);
    for (let w = 0; w < mask.length; w++) {
      let v = extra ? extra[w]! : 0xffffffff;
      for (const c of p.constraints) v &= c.mask[w]!;
      mask[w] = v;
    }
    let count = 0;
    for (let i = 0; i < p.candidates.length; i++) if (has(mask, i)) count++;
    return { mask, count };
  };
  const label = (p: Pkg, i: number) => `${p.name} ${p.candidates[i]!.version}`;
  const pending = new Set<Pkg>();
  const decisions: Decision[] = [];
  let backtracks = 0;

  const addConstraint = (p: Pkg, c: Constraint) => {
    p.constraints.push(c);
    if (p.chosen < 0) pending.add(p);
  };

  /** Why no version of `d` meets `range` on top of its constraints, and which levels are to blame. */
  const explainEmpty = (
    d: Pkg,
    range: string,
    m: Uint32Array,
    from: string,
  ): { why: string; blame: number[] } => {
    if (d.candidates.length === 0 || !m.some((w) => w !== 0))
      return { why: noVersion(d, range, from), blame: [] };
    // A pairwise clash makes the clearest sentence; else every range on it is to blame.
    const clash = d.constraints.find((c) => !c.mask.some((w, k) => (w & m[k]!) !== 0));
    if (clash) {
      return {
        why: `${clash.from} needs ${d.name} ${clash.range}, but ${from} needs ${d.name} ${range}`,
        blame: [clash.level],
      };
    }
    return {
      why: `${from} needs ${d.name} ${range}, but no version of ${d.name} also meets ${d.constraints.map((c) => `${c.range} (${c.from})`).join(" and ")} (versions: ${versionList(d)})`,
      blame: d.constraints.map((c) => c.level),
    };
  };

  // The root's ranges first: a name nobody has, or a range no version meets, fails at once.
  for (const [name, range] of [...Object.entries(root.dependencies), ...Object.entries(root.extra ?? {})]) {
    const p = pkgs.get(name)!;
    const m = maskOf(p, range);
    if (allowed(p, m).count === 0)
      throw resolveError(root.label, [explainEmpty(p, range, m, root.label).why]);
    addConstraint(p, { range, mask: m, level: ROOT, from: root.label });
  }

  /** Why candidate `i` of `p` cannot be chosen now, and which levels are to blame; undefined if it can. */
  const check = (p: Pkg, i: number): { why: string; blame: number[] } | undefined => {
    let excluded: Constraint | undefined;
    for (const c of p.constraints)
      if (!has(c.mask, i) && (!excluded || c.level < excluded.level)) excluded = c;
    if (excluded) return { why: "", blame: [excluded.level] };
    const me = label(p, i);
    for (const [dn, range] of Object.entries(p.candidates[i]!.dependencies)) {
      const d = pkgs.get(dn)!;
      const m = maskOf(d, range);
      if (d.chosen >= 0) {
        if (has(m, d.chosen)) continue;
        // Say it as the clash between two ranges when there is one; else name the version chosen.
        const clash = d.constraints.find((c) => !c.mask.some((w, k) => (w & m[k]!) !== 0));
        const why = clash
          ? `${clash.from} needs ${dn} ${clash.range}, but ${me} needs ${dn} ${range}`
          : `${me} needs ${dn} ${range}, but ${dn} ${d.candidates[d.chosen]!.version} was chosen (for ${d.constraints.map((c) => c.from).join(", ")})`;
        return { why, blame: [d.level] };
      }
      if (allowed(d, m).count > 0) continue;
      return explainEmpty(d, range, m, me);
    }
    return undefined;
  };

  const assign = (dec: Decision, i: number, level: number) => {
    const p = dec.pkg;
    p.chosen = i;
    p.level = level;
    pending.delete(p);
    const me = label(p, i);
    for (const [dn, range] of Object.entries(p.candidates[i]!.dependencies)) {
      const d = pkgs.get(dn)!;
      addConstraint(d, { range, mask: maskOf(d, range), level, from: me });
      dec.touched.push(d);
    }
  };

  const unassign = (dec: Decision, level: number) => {
    for (const d of dec.touched) {
      // Constraints of one level are the last ones pushed on each package.
      while (d.constraints.length && d.constraints[d.constraints.length - 1]!.level === level)
        d.constraints.pop();
      if (d.constraints.length === 0) pending.delete(d);
    }
    dec.touched = [];
    dec.pkg.chosen = -1;
    dec.pkg.level = -1;
    pending.add(dec.pkg);
  };

  const pick = (): Pkg | undefined => {
    let best: Pkg | undefined;
    let bestCount = Number.POSITIVE_INFINITY;
    for (const p of pending) {
      const n = allowed(p).count;
      if (n < bestCount || (n === bestCount && best && p.name < best.name)) {
        best = p;
        bestCount = n;
        if (n <= 1) break;
      }
    }
    return best;
  };

  /** Try the decision's remaining candidates; true when one was chosen. */
  const advance = (dec: Decision, level: number): boolean => {
    const p = dec.pkg;
    while (dec.next < p.candidates.length) {
      const i = dec.next++;
      const bad = check(p, i);
      if (!bad) {
        assign(dec, i, level);
        return true;
      }
      for (const b of bad.blame) if (b !== level) dec.conflict.add(b);
      if (bad.why) dec.reasons.push(bad.why);
    }
    return false;
  };

  for (;;) {
    const p = pick();
    if (!p) break;
    let level = decisions.length;
    let dec: Decision = { pkg: p, next: 0, conflict: new Set(), reasons: [], touched: [] };
    decisions.push(dec);
    while (!advance(dec, level)) {
      // Out of versions: jump back to the latest choice among those to blame. The choices that made this
      // package needed at all (its ranges' levels) are to blame too: undoing one may drop the need.
      for (const c of dec.pkg.constraints) if (c.level !== ROOT) dec.conflict.add(c.level);
      const blame = [...dec.conflict].filter((l) => l !== level);
      const target = blame.length ? Math.max(...blame) : ROOT;
      if (target === ROOT) {
        throw resolveError(
          root.label,
          dec.reasons.length
            ? dec.reasons
            : [`no version of ${dec.pkg.name} fits (versions: ${versionList(dec.pkg)})`],
        );
      }
      for (let l = decisions.length - 1; l > target; l--) {
        const d = decisions[l]!;
        if (d.pkg.chosen >= 0) unassign(d, l);
        pending.delete(d.pkg);
        if (d.pkg.constraints.length) pending.add(d.pkg);
        decisions.pop();
        backtracks++;
      }
      const back = decisions[target]!;
      unassign(back, target);
      pending.delete(back.pkg);
      for (const b of blame) if (b !== target) back.conflict.add(b);
      back.reasons.push(...dec.reasons);
      dec = back;
      level = target;
      backtracks++;
    }
  }

  const packages = [...pkgs.values()]
    .filter((p) => p.chosen >= 0)
    .map((p) => {
      const c = p.candidates[p.chosen]!;
      const deps: Record<string, string> = {};
      for (const dn of Object.keys(c.dependencies).sort()) {
        const d = pkgs.get(dn)!;
        deps[dn] = d.candidates[d.chosen]!.version;
      }
      return { name: p.name, version: c.version, dependencies: deps };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { packages, backtracks };
}

function versionList(p: Pkg): string {
  return p.candidates
    .map((c) => c.version)
    .sort(semver.compare)
    .join(", ");
}

function noVersion(p: Pkg, range: string, from: string): string {
  if (p.candidates.length === 0) {
    return `${from} needs ${p.name} ${range}, but no repository has a package named ${q(p.name)}`;
  }
  return `${from} needs ${p.name} ${range}, but the versions of ${p.name} are ${versionList(p)}`;
}

function resolveError(rootLabel: string, reasons: readonly string[]) {
  const unique = [...new Set(reasons)];
  const shown = unique.slice(0, 6);
  const more = unique.length - shown.length;
  return usageError(
    "KILN_ERESOLVE",
    `Cannot resolve the dependencies of ${rootLabel}: ${shown[0]}${shown.length > 1 ? `\n  also: ${shown.slice(1).join("\n  also: ")}` : ""}${more > 0 ? `\n  (${more} more)` : ""}`,
    "Change a version range so that they meet (kiln pkg info NAME lists the versions), or publish a version that fits.",
    { conflicts: unique },
  );
}
