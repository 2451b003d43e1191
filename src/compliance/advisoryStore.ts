/**
 * The advisory store: OSV entries imported from a directory or a zip (osv.dev's per-ecosystem `all.zip`),
 * kept under KILN_HOME/advisories/<source>/ and indexed by (ecosystem, package) so that an audit reads only
 * the packages it asks about. Each import replaces one source atomically (built beside, moved in with one
 * rename); importing several sources (Debian, npm, ...) keeps them all.
 *
 * Layout of a source: `pack.ndjson`, one line per (ecosystem, package) holding its advisories as a JSON
 * array; `index.json`, ecosystem → index file; `index-<n>.json`, package → [byte offset, length] in the
 * pack (an audit loads only the indexes of the ecosystems it asks about); `meta.json`, counts.
 * Malformed files are skipped with a warning naming the file; the rest is imported.
 */
import { open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { buildDirAtomic } from "../core/atomic.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { kilnHome } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { notAFile, readUserFile } from "../core/userFile.js";
import { type OsvEntry, type StoredAdvisory, splitByPackage } from "./osv.js";
import { schemeFor, sortedEvents } from "./osvMatch.js";
import { openZip } from "./zipRead.js";

/** Read side of an advisory database: the contract `kiln audit` matches against. */
export interface AdvisoryDb {
  /** Advisories naming `name` in `ecosystem` (exact names; Debian names are source packages). */
  lookup(ecosystem: string, name: string): Promise<StoredAdvisory[]>;
  /** What the database holds, for reports. */
  describe(): { sources: string[]; entries: number };
  close(): Promise<void>;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface ReadAdvisories {
  files: number;
  entries: number;
  skipped: SkippedFile[];
}

export interface SourceMeta {
  v: 1;
  name: string;
  from: string;
  files: number;
  entries: number;
  withdrawn: number;
  packages: number;
  skipped: number;
  ecosystems: Record<string, number>;
}

export interface ImportResult extends SourceMeta {
  skippedFiles: SkippedFile[];
  /** Bytes the source takes in the store. */
  bytes: number;
}

export function advisoriesDir(env?: NodeJS.ProcessEnv): string {
  return join(kilnHome(env), "advisories");
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+:-]*$/;

/** Default source name: the zip's or directory's name; osv.dev's `Debian/all.zip` is "Debian". */
export function defaultSourceName(path: string): string {
  const parts = path.replace(/\/+$/, "").split("/");
  let n = (parts.at(-1) ?? "advisories").replace(/\.zip$/i, "").replace(/\.json$/i, "");
  if (n === "all" && parts.length > 1) n = parts.at(-2)!;
  n = n.replace(/[^A-Za-z0-9._+:-]+/g, "_").replace(/^[^A-Za-z0-9]+/, "");
  return n || "advisories";
}

async function walkJson(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.name.startsWith(".")) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile() && e.name.endsWith(".json")) out.push(p);
    }
  };
  await visit(dir);
  return out;
}

/**
 * Parse every OSV file in a directory, a .zip or one .json file, handing each valid entry to `onEntry` as
 * it is read (so that 100,000 full entries, details and references included, are never all in memory).
 */
export async function readAdvisories(
  path: string,
  onEntry: (e: OsvEntry) => void,
  progress: Progress = silentProgress,
): Promise<ReadAdvisories> {
  const st = await stat(path).catch((e: unknown) => {
    throw missingOr(e, path, "read advisories from", () =>
      usageError(
        "KILN_EADVISORIES_NOT_FOUND",
        `Cannot read advisories from ${q(path)}: no such file or directory`,
        "Give a directory of OSV JSON files or a .zip of them (osv.dev publishes one per ecosystem, e.g. Debian/all.zip).",
      ),
    );
  });
  if (!st.isDirectory() && !st.isFile()) throw notAFile(path, "advisories", st);
  const { parseOsv } = await import("./osvSchema.js");
  let entries = 0;
  const skipped: SkippedFile[] = [];
  let files = 0;
  const take = (file: string, text: string) => {
    files++;
    const r = parseOsv(text);
    for (const e of r.entries) onEntry(e);
    entries += r.entries.length;
    for (const reason of r.errors) skipped.push({ file, reason });
  };
  if (st.isDirectory()) {
    const list = await walkJson(path);
    progress.step(`reading ${list.length} OSV files from ${path}`);
    const limit = 64;
    for (let i = 0; i < list.length; i += limit) {
      const batch = list.slice(i, i + limit);
      const texts = await Promise.all(batch.map((f) => readFile(f, "utf8")));
      batch.forEach((f, j) => {
        take(relative(path, f), texts[j]!);
      });
    }
  } else if (/\.zip$/i.test(path)) {
    const z = await openZip(path);
    try {
      const list = z.entries.filter((e) => !e.directory && e.name.endsWith(".json"));
      progress.step(`reading ${list.length} OSV files from ${path}`);
      for (const e of list) {
        if (e.unsafe) {
          skipped.push({ file: e.name, reason: "unsafe name in the archive (absolute or ..)" });
          continue;
        }
        let data: Buffer;
        try {
          data = await z.read(e);
        } catch (err) {
          const why = err instanceof KilnError ? err.details?.why : undefined;
          skipped.push({ file: e.name, reason: typeof why === "string" ? why : (err as Error).message });
          continue;
        }
        take(e.name, data.toString("utf8"));
      }
    } finally {
      await z.close();
    }
  } else {
    progress.step(`reading ${path}`);
    take(basename(path), await readUserFile(path, "advisories", "utf8"));
  }
  progress.done();
  return { files, entries, skipped };
}

interface Grouped {
  keys: Map<string, Map<string, StoredAdvisory>>;
  ecosystems: Record<string, number>;
  withdrawn: number;
  ids: Set<string>;
  add(e: OsvEntry): void;
}

function grouper(): Grouped {
  const g: Grouped = {
    keys: new Map(),
    ecosystems: Object.create(null) as Record<string, number>,
    withdrawn: 0,
    ids: new Set(),
    add(e) {
      if (!g.ids.has(e.id) && e.withdrawn) g.withdrawn++;
      g.ids.add(e.id);
      for (const { ecosystem, name, advisory } of splitByPackage(e)) {
        const scheme = schemeFor(ecosystem);
        for (const a of advisory.affected)
          for (const r of a.ranges ?? []) {
            const sorted = sortedEvents(r, scheme);
            if (sorted) r.events = sorted;
          }
        const key = `${ecosystem}\t${name}`;
        const byId = g.keys.get(key) ?? new Map<string, StoredAdvisory>();
        const prev = byId.get(advisory.id);
        // The same id twice (an update shipped beside the old file): the newer `modified` wins.
        if (!prev || prev.modified < advisory.modified) byId.set(advisory.id, advisory);
        g.keys.set(key, byId);
        if (!prev) g.ecosystems[ecosystem] = (g.ecosystems[ecosystem] ?? 0) + 1;
      }
    },
  };
  return g;
}

/** Import into the store under `name` (default from the path), replacing that source atomically. */
export async function importAdvisories(
  path: string,
  opts: { name?: string; env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<ImportResult> {
  const progress = opts.progress ?? silentProgress;
  const name = opts.name ?? defaultSourceName(path);
  if (!NAME.test(name))
    throw usageError(
      "KILN_EADVISORIES_NAME",
      `Cannot name an advisory source ${q(name)}`,
      "Use letters, digits and . _ + : - (like Debian or npm-2024).",
    );
  const g = grouper();
  const parsed = await readAdvisories(path, (e) => g.add(e), progress);
  if (parsed.entries === 0)
    throw new KilnError(
      "KILN_EADVISORIES_EMPTY",
      `No valid OSV entries in ${q(path)} (${parsed.files} files read, ${parsed.skipped.length} skipped)`,
      "Check that the files are OSV JSON (https://ossf.github.io/osv-schema/); the store was left as it was.",
      { details: { skipped: parsed.skipped.slice(0, 20) } },
    );
  progress.step(`indexing ${g.ids.size} advisories`);
  const lines: string[] = [];
  const indexes = new Map<string, Record<string, [number, number]>>();
  let offset = 0;
  for (const key of [...g.keys.keys()].sort()) {
    const advisories = [...g.keys.get(key)!.values()].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    const line = `${JSON.stringify(advisories)}\n`;
    const len = Buffer.byteLength(line);
    const [ecosystem, pkg] = key.split("\t") as [string, string];
    // Null-prototype: package names come from the input ("__proto__" must stay a plain key).
    const index = indexes.get(ecosystem) ?? (Object.create(null) as Record<string, [number, number]>);
    index[pkg] = [offset, len - 1];
    indexes.set(ecosystem, index);
    offset += len;
    lines.push(line);
  }
  const indexFiles = [...indexes.keys()].sort().map((eco, i) => ({ eco, file: `index-${i}.json` }));
  const meta: SourceMeta = {
    v: 1,
    name,
    from: basename(path),
    files: parsed.files,
    entries: g.ids.size,
    withdrawn: g.withdrawn,
    packages: g.keys.size,
    skipped: parsed.skipped.length,
    ecosystems: Object.fromEntries(Object.entries(g.ecosystems).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const indexText = JSON.stringify({
    v: 2,
    ecosystems: Object.fromEntries(indexFiles.map((x) => [x.eco, x.file])),
  });
  const indexTexts = indexFiles.map((x) => ({ file: x.file, text: JSON.stringify(indexes.get(x.eco)) }));
  const metaText = `${JSON.stringify(meta, null, 2)}\n`;
  progress.done();
  progress.step(`writing advisory source ${name}`);
  await buildDirAtomic(
    join(advisoriesDir(opts.env), name),
    async (dir) => {
      await writeFile(join(dir, "pack.ndjson"), lines.join(""));
      for (const x of indexTexts) await writeFile(join(dir, x.file), x.text);
      await writeFile(join(dir, "index.json"), indexText);
      await writeFile(join(dir, "meta.json"), metaText);
    },
    { replace: true },
  );
  progress.done();
  return {
    ...meta,
    skippedFiles: parsed.skipped,
    bytes:
      offset +
      Buffer.byteLength(indexText) +
      Buffer.byteLength(metaText) +
      indexTexts.reduce((n, x) => n + Buffer.byteLength(x.text), 0),
  };
}

export async function listAdvisorySources(env?: NodeJS.ProcessEnv): Promise<SourceMeta[]> {
  let names: string[];
  try {
    names = (await readdir(advisoriesDir(env))).filter((n) => !n.startsWith(".")).sort();
  } catch {
    return [];
  }
  const out: SourceMeta[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(await readFile(join(advisoriesDir(env), n, "meta.json"), "utf8")) as SourceMeta);
    } catch {
      // A directory that is not a complete source (nothing else writes here): not listed.
    }
  }
  return out;
}

export async function removeAdvisorySource(name: string, env?: NodeJS.ProcessEnv): Promise<void> {
  const dir = join(advisoriesDir(env), name);
  if (!NAME.test(name) || !(await stat(join(dir, "meta.json")).catch(() => undefined)))
    throw usageError(
      "KILN_EADVISORIES_NOT_FOUND",
      `No advisory source named ${q(name)}`,
      "Run `kiln advisories list` to see the sources.",
    );
  await rm(dir, { recursive: true, force: true });
}

type PackageIndex = Record<string, [number, number]>;

/**
 * The store as an AdvisoryDb: a source's index of an ecosystem is read the first time that ecosystem is
 * asked about; advisories are read by byte range.
 */
export async function openAdvisoryStore(env?: NodeJS.ProcessEnv): Promise<AdvisoryDb> {
  const sources = await listAdvisorySources(env);
  const loaded = await Promise.all(
    sources.map(async (m) => {
      const dir = join(advisoriesDir(env), m.name);
      const top = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
        v: number;
        ecosystems?: Record<string, string>;
      };
      if (top.v !== 2 || !top.ecosystems)
        throw new KilnError(
          "KILN_EADVISORIES_FORMAT",
          `Advisory source ${q(m.name)} was imported by another kiln version`,
          `Import it again: kiln advisories import PATH --name ${m.name}`,
        );
      const files = top.ecosystems;
      const cache = new Map<string, Promise<PackageIndex | undefined>>();
      const index = (eco: string) => {
        let p = cache.get(eco);
        if (!p) {
          const f = Object.hasOwn(files, eco) ? files[eco] : undefined;
          p = f
            ? readFile(join(dir, f), "utf8").then((t) => JSON.parse(t) as PackageIndex)
            : Promise.resolve(undefined);
          cache.set(eco, p);
        }
        return p;
      };
      return { meta: m, index, fh: await open(join(dir, "pack.ndjson"), "r") };
    }),
  );
  return {
    async lookup(ecosystem, name) {
      const out: StoredAdvisory[] = [];
      for (const s of loaded) {
        const idx = await s.index(ecosystem);
        // Own keys only: a package named "constructor" must not find Object.prototype's.
        const at = idx && Object.hasOwn(idx, name) ? idx[name] : undefined;
        if (!at) continue;
        const buf = Buffer.alloc(at[1]);
        await s.fh.read(buf, 0, at[1], at[0]);
        out.push(...(JSON.parse(buf.toString("utf8")) as StoredAdvisory[]));
      }
      return out;
    },
    describe: () => ({
      sources: sources.map((s) => s.name),
      entries: sources.reduce((n, s) => n + s.entries, 0),
    }),
    close: async () => {
      await Promise.all(loaded.map((s) => s.fh.close()));
    },
  };
}

/** Advisories read straight from a path (`kiln audit --db PATH`), without importing them. */
export async function advisoryDbFromPath(
  path: string,
  progress?: Progress,
): Promise<{ db: AdvisoryDb; skipped: SkippedFile[] }> {
  const g = grouper();
  const parsed = await readAdvisories(path, (e) => g.add(e), progress);
  return {
    db: {
      lookup: async (ecosystem, name) => [...(g.keys.get(`${ecosystem}\t${name}`)?.values() ?? [])],
      describe: () => ({ sources: [path], entries: g.ids.size }),
      close: async () => {},
    },
    skipped: parsed.skipped,
  };
}
