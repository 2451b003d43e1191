/**
 * `kiln pkg add NAME@RANGE`: write the range into the project's kiln.toml [dependencies] (or
 * [build-dependencies]), editing the text so comments and layout stay; the result is parsed and checked
 * before it replaces the file (atomically). When the project names repositories, the range must match a
 * version one of them has.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import semver from "semver";
import { writeFileAtomic } from "../core/atomic.js";
import { q, usageError } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { loadToml, parseToml } from "./loadRecipe.js";
import { openRepository, RepositorySet } from "./openRepository.js";
import { PACKAGE_NAME } from "./recipe.js";

export interface AddResult {
  file: string;
  name: string;
  range: string;
  table: string;
  /** The range it replaced, if the name was there. */
  previous?: string;
  /** Versions the repositories have that match (empty when none were asked). */
  matching: string[];
}

export function parseNameRange(spec: string): { name: string; range: string } {
  const at = spec.indexOf("@", 1);
  const name = at < 0 ? spec : spec.slice(0, at);
  const range = at < 0 ? "*" : spec.slice(at + 1);
  if (!PACKAGE_NAME.test(name) || semver.validRange(range) === null) {
    throw usageError(
      "KILN_EPKG_SPEC",
      `Cannot parse ${q(spec)} as NAME@RANGE`,
      'Write it like kz@^1.0, kz@">=1.2 <2" or just kz (any version).',
    );
  }
  return { name, range };
}

export async function addDependency(
  dir: string,
  spec: string,
  opts: { build?: boolean; repos?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<AddResult> {
  const { name, range } = parseNameRange(spec);
  const table = opts.build ? "build-dependencies" : "dependencies";
  const file = join(dir, "kiln.toml");
  const loaded = await loadToml(dir).catch((e: { code?: string }) => {
    if (e.code === "KILN_ERECIPE_NOT_FOUND") return undefined;
    throw e;
  });
  const text = loaded?.text ?? "";
  const previous = loaded?.toml[table]?.[name];

  const specs = [...(opts.repos ?? []), ...(loaded?.toml.repositories ?? [])];
  let matching: string[] = [];
  if (specs.length) {
    const store = openStore(opts.env);
    const set = new RepositorySet(
      await Promise.all(
        specs.map((s) => openRepository(s, store, { base: dir, ...(opts.env ? { env: opts.env } : {}) })),
      ),
    );
    const versions = (await set.versions(name)).map((c) => c.version);
    matching = versions.filter((v) => semver.satisfies(v, range)).sort(semver.rcompare);
    if (matching.length === 0) {
      throw usageError(
        "KILN_EPKG_NO_MATCH",
        versions.length
          ? `No version of ${q(name)} matches ${q(range)} in ${specs.join(", ")} (there are ${versions.sort(semver.compare).join(", ")})`
          : `No repository of ${specs.join(", ")} has a package named ${q(name)}`,
        "Check the name with `kiln pkg search`, and the versions with `kiln pkg info NAME`.",
      );
    }
  }

  const next = withDependency(text, table, name, range);
  await parseToml(next, file); // refuse to write a file kiln would then refuse to read
  if (loaded) await writeFileAtomic(file, next);
  else await writeFile(file, next, { flag: "wx" });
  return { file, name, range, table, ...(previous !== undefined ? { previous } : {}), matching };
}

/** The text with `name = "range"` set in [table]: replaced in place, added to the table, or a new table. */
export function withDependency(text: string, table: string, name: string, range: string): string {
  const lines = text.split("\n");
  const line = `${/^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name)} = ${JSON.stringify(range)}`;
  const header = lines.findIndex((l) =>
    new RegExp(`^\\s*\\[\\s*${table.replace(/-/g, "\\-")}\\s*\\]\\s*(#.*)?$`).test(l),
  );
  if (header < 0) {
    const body = text.length && !text.endsWith("\n") ? `${text}\n` : text;
    return `${body}${body.trim().length ? "\n" : ""}[${table}]\n${line}\n`;
  }
  let end = header + 1;
  let lastKey = header;
  const key = new RegExp(`^\\s*("${name.replace(/[.]/g, "\\.")}"|${name.replace(/[.]/g, "\\.")})\\s*=`);
  for (; end < lines.length && !/^\s*\[/.test(lines[end]!); end++) {
    if (key.test(lines[end]!)) {
      lines[end] = line;
      return lines.join("\n");
    }
    if (/^\s*[^#\s]/.test(lines[end]!)) lastKey = end;
  }
  lines.splice(lastKey + 1, 0, line);
  return lines.join("\n");
}
