/**
 * kiln.lock: the exact versions a project's ranges resolved to, with the digests of everything fetched or
 * built for them (recipe archive, sources, built artifact, Debian packages). Written deterministically
 * (packages sorted by name, keys in a fixed order), so that the same resolution gives the same bytes and
 * `--frozen` can compare texts.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { q, usageError } from "../core/errors.js";

export const LOCKFILE = "kiln.lock";
const HEX64 = /^[0-9a-f]{64}$/;

const LockedSource = z
  .object({
    url: z.string().optional(),
    path: z.string().optional(),
    sha256: z.string().regex(HEX64),
  })
  .strict();

const LockedPackage = z
  .object({
    name: z.string(),
    version: z.string(),
    /** The repository it came from, as the project names it. */
    repository: z.string(),
    /** sha256 of the recipe archive (deterministic tar of the recipe's directory). */
    recipe: z.string().regex(HEX64),
    /** "NAME VERSION" of each dependency, sorted. */
    dependencies: z.array(z.string()),
    sources: z.array(LockedSource),
    /** sha256 of the built artifact (the staged prefix as a tar). */
    artifact: z.string().regex(HEX64).optional(),
  })
  .strict();
export type LockedPackage = z.infer<typeof LockedPackage>;

const Lock = z
  .object({
    version: z.literal(1),
    /** Digest of the ranges the lock was made from: when they change, resolution runs again. */
    requires: z.string().regex(HEX64),
    package: z.array(LockedPackage).optional(),
  })
  .strict();

export interface Lockfile {
  requires: string;
  packages: LockedPackage[];
}

/** The digest of a project's ranges (dependencies and build-dependencies), order-independent. */
export function requiresDigest(
  deps: Readonly<Record<string, string>>,
  buildDeps: Readonly<Record<string, string>> = {},
): string {
  const line = (k: string, r: Readonly<Record<string, string>>) =>
    Object.keys(r)
      .sort()
      .map((n) => `${k} ${n} ${r[n]}`);
  return sha256([...line("run", deps), ...line("build", buildDeps)].join("\n"));
}

export function renderLock(lock: Lockfile): string {
  const pkgs = [...lock.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out = [
    "# kiln.lock: exact versions and digests, written by `kiln pkg install`. Commit it; do not edit it.",
    "version = 1",
    `requires = ${JSON.stringify(lock.requires)}`,
  ];
  for (const p of pkgs) {
    out.push(
      "",
      "[[package]]",
      `name = ${JSON.stringify(p.name)}`,
      `version = ${JSON.stringify(p.version)}`,
      `repository = ${JSON.stringify(p.repository)}`,
      `recipe = ${JSON.stringify(p.recipe)}`,
      `dependencies = [${[...p.dependencies]
        .sort()
        .map((d) => JSON.stringify(d))
        .join(", ")}]`,
      ...(p.artifact ? [`artifact = ${JSON.stringify(p.artifact)}`] : []),
    );
    for (const s of p.sources) {
      out.push(
        "",
        "[[package.sources]]",
        ...(s.url !== undefined ? [`url = ${JSON.stringify(s.url)}`] : []),
        ...(s.path !== undefined ? [`path = ${JSON.stringify(s.path)}`] : []),
        `sha256 = ${JSON.stringify(s.sha256)}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}

export async function parseLock(text: string, file: string): Promise<Lockfile> {
  const { parse, TomlError } = await import("smol-toml");
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw badLock(file, e instanceof TomlError ? `line ${e.line}: ${e.message.split("\n")[0]}` : String(e));
  }
  const r = Lock.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw badLock(file, `key ${q(i.path.map(String).join(".") || "(top level)")}: ${i.message}`);
  }
  return { requires: r.data.requires, packages: r.data.package ?? [] };
}

export async function readLock(dir: string): Promise<Lockfile | undefined> {
  const file = join(dir, LOCKFILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  return parseLock(text, file);
}

/** Write kiln.lock when its text changes; true when it did. */
export async function writeLock(dir: string, lock: Lockfile): Promise<boolean> {
  const file = join(dir, LOCKFILE);
  const text = renderLock(lock);
  const old = await readFile(file, "utf8").catch(() => undefined);
  if (old === text) return false;
  await writeFileAtomic(file, text);
  return true;
}

/** What changed between two locks, one line per package ("+ kz 1.0.0", "- kz 0.9.0", "~ kz 1.0.0: artifact"). */
export function lockChanges(before: Lockfile | undefined, after: Lockfile): string[] {
  const old = new Map((before?.packages ?? []).map((p) => [p.name, p]));
  const out: string[] = [];
  for (const p of after.packages) {
    const o = old.get(p.name);
    old.delete(p.name);
    if (!o) out.push(`+ ${p.name} ${p.version}`);
    else if (o.version !== p.version) out.push(`~ ${p.name} ${o.version} -> ${p.version}`);
    else {
      const what = (["recipe", "artifact", "repository"] as const).filter((k) => o[k] !== p[k]);
      if (JSON.stringify(o.sources) !== JSON.stringify(p.sources)) what.push("sources" as never);
      if (JSON.stringify([...o.dependencies].sort()) !== JSON.stringify([...p.dependencies].sort()))
        what.push("dependencies" as never);
      if (what.length) out.push(`~ ${p.name} ${p.version}: ${what.join(", ")}`);
    }
  }
  for (const o of old.values()) out.push(`- ${o.name} ${o.version}`);
  if (before && before.requires !== after.requires && out.length === 0) out.push("~ the ranges in kiln.toml");
  return out;
}

function badLock(file: string, why: string) {
  return usageError(
    "KILN_ELOCK_INVALID",
    `Cannot read ${q(file)}: ${why}`,
    "kiln.lock is written by kiln; remove it and run `kiln pkg install` to write it again.",
  );
}
