/**
 * `deb:NAME[=VERSION]`: a program from Debian with exactly what it needs to run in an image. apt resolves
 * the package and its run-time dependencies (debApt.ts); each .deb is downloaded, checked against the
 * SHA256 of apt's signed index, kept in the store and unpacked there once (debUnpack.ts); the program's
 * shared-library closure is found in the unpacked packages as the dynamic loader would find it
 * (elfClosure.ts), plus the run-time files a recipe lists that ELF does not name. The answer is cached by
 * the spec, the recipe and the state of apt's lists, so a second call asks apt nothing.
 *
 * What bake does with the answer: put `program.src` at `program.dest` and every entry of `files` at its
 * `dest` (a symlink when `symlink` is set: its target, relative to the link's directory), and run the
 * program normally: the kernel loads PT_INTERP, which is among the files.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { readDebControlFiles } from "../core/debPackage.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { openStore, type Store } from "../core/store.js";
import { KILN_VERSION } from "../core/version.js";
import { type Accounts, baseAccounts } from "../manifest/accounts.js";
import { aptClosure, aptDownloadAll, aptStateDigest, type DebRecord } from "./debApt.js";
import { debDataPaths } from "./debData.js";
import { unpackDebRoot } from "./debUnpack.js";
import { elfClosure } from "./elfClosure.js";
import { imageFiles } from "./imageFiles.js";
import { loadToml } from "./loadRecipe.js";
import { type MaintainerScript, maintainerAccounts } from "./maintainerAccounts.js";
import type { Deb, Image } from "./recipe.js";
import { RootView } from "./rootView.js";

export interface DebProgramFile {
  /** Host path (for a symlink: the link in its unpacked tree, for reference). */
  src: string;
  /** Absolute path in the image. */
  dest: string;
  mode?: number;
  /** Set for symlinks: the target to write, relative to the link's directory. */
  symlink?: string;
  /** The Debian package that ships it (absent for a recipe's own files). */
  package?: string;
}

export interface DebPackageInfo {
  name: string;
  version: string;
  architecture: string;
  /** Source package and version: what Debian's security tracker and OSV name. */
  source: string;
  sourceVersion: string;
  /** sha256 of the .deb (checked against apt's index; also its store blob). */
  sha256: string;
  /** Host path of its /usr/share/doc/NAME/copyright (DEP-5 or free text), when it has one. */
  copyrightFile?: string;
}

export interface DebProgram {
  spec: string;
  program: { src: string; dest: string };
  /** The shared-library closure, the interpreter, recipe-listed files; sorted by dest. */
  files: DebProgramFile[];
  /** The packages at least one file comes from (the program's first), with versions and copyright. */
  packages: DebPackageInfo[];
  /** Every package downloaded for the closure, including those no file was needed from. */
  resolved: DebPackageInfo[];
  /** Image defaults from the catalogue recipe (args, env, ports, memory), when there is one. */
  image?: Omit<Image, "files">;
  /** The recipe used (kiln.toml path). */
  recipe?: string;
  /**
   * Debian's static accounts plus the system users and groups the packages' maintainer scripts would make,
   * when they make any (the image then gets them as /etc/passwd and /etc/group).
   */
  accounts?: Accounts;
}

export interface DebProgramOptions {
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** A kiln.toml (or its directory) with a [deb] table; default: the catalogue's recipe for NAME if any. */
  recipe?: string;
  /** Override the recipe: the program's path in the packages. */
  program?: string;
  /** More run-time files or directories (from the packages) to include. */
  files?: string[];
  exclude?: string[];
  /** Look in kiln's packages/ catalogue for a recipe (default true). */
  catalogue?: boolean;
  /** Take the run-time data the packages ship (debData.ts; default true, or the recipe's [deb] data). */
  data?: boolean;
}

// deb:NAME[=VERSION][:/PROGRAM]. A version may hold ':' (an epoch) but never '/', so ":/" starts the path.
const SPEC = /^deb:([a-z0-9][a-z0-9+.-]+)(?:=([A-Za-z0-9.+:~-]+?))?(?::(\/[^\0]*))?$/;

export function parseDebSpec(spec: string): { name: string; version?: string; program?: string } {
  const m = SPEC.exec(spec);
  if (!m) {
    throw usageError(
      "KILN_EDEB_SPEC",
      `Cannot parse ${q(spec)} as a Debian package`,
      "Write deb:NAME, deb:NAME=VERSION or deb:NAME:/PATH/OF/PROGRAM, like deb:redis-server, deb:sqlite3=3.40.1-2+deb12u2 or deb:postgresql-15:/usr/lib/postgresql/15/bin/postgres.",
    );
  }
  const program = m[3];
  if (
    program !== undefined &&
    (program.split("/").some((c) => c === ".." || c === ".") || program.endsWith("/"))
  )
    throw usageError(
      "KILN_EDEB_SPEC",
      `Cannot take ${q(program)} in ${q(spec)} as a program path`,
      "Give the program's absolute path as the package installs it, without . or .. (dpkg -L PACKAGE lists them).",
    );
  return { name: m[1]!, ...(m[2] ? { version: m[2] } : {}), ...(program ? { program } : {}) };
}

/** Where kiln's own catalogue of recipes is (packages/ at the repository root, next to src/ and dist/). */
export function catalogueDir(): string {
  return new URL("../../packages/", import.meta.url).pathname;
}

/** The catalogue recipe whose [deb] package is `name` (or whose name is, with a [deb] table). */
export async function findDebRecipe(name: string): Promise<string | undefined> {
  const dir = catalogueDir();
  const entries = await readdir(dir).catch(() => [] as string[]);
  const direct = entries.includes(name) ? [name] : [];
  const { parse } = await import("smol-toml");
  for (const e of [...direct, ...entries.sort()]) {
    const text = await readFile(join(dir, e, "kiln.toml"), "utf8").catch(() => undefined);
    if (!text || !/^\s*\[deb\]/m.test(text)) continue;
    // Only the recipe that names the package is validated (by the caller): another one's mistake is not this
    // package's error.
    let doc: { name?: unknown; deb?: { package?: unknown } };
    try {
      doc = parse(text) as typeof doc;
    } catch {
      continue;
    }
    if ((doc.deb?.package ?? doc.name) === name) return join(dir, e, "kiln.toml");
  }
  return undefined;
}

export async function resolveDebProgram(spec: string, opts: DebProgramOptions = {}): Promise<DebProgram> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  const want = parseDebSpec(spec);
  const recipeFile = opts.recipe ?? (opts.catalogue === false ? undefined : await findDebRecipe(want.name));
  const loaded = recipeFile ? await loadToml(recipeFile) : undefined;
  const deb: Deb = loaded?.toml.deb ?? {};
  if (recipeFile && !loaded?.toml.deb) {
    throw usageError(
      "KILN_EDEB_RECIPE",
      `Recipe ${q(loaded!.file)} has no [deb] table`,
      'A Debian-sourced recipe names its package in [deb] (package = "...", program = "...").',
    );
  }
  const version = want.version ?? deb.version;
  if (opts.program && want.program && opts.program !== want.program)
    throw usageError(
      "KILN_EDEB_SPEC",
      `Two programs named for ${q(spec)}: ${q(want.program)} in the spec and ${q(opts.program)} by --program`,
      "Name the program once.",
    );
  const programHint = opts.program ?? want.program ?? deb.program;
  const extraFiles = [...(deb.files ?? []), ...(opts.files ?? [])];
  const exclude = [...(deb.exclude ?? []), ...(opts.exclude ?? [])];
  const withData = opts.data ?? deb.data ?? true;
  const added = loaded?.toml.image?.files
    ? await imageFiles(loaded.dir, loaded.toml.image.files, loaded.file)
    : [];

  const store = openStore(env);
  const cacheKey = sha256(
    JSON.stringify({
      v: 3,
      kiln: KILN_VERSION,
      withData,
      name: want.name,
      version,
      programHint,
      extraFiles,
      exclude,
      recipe: loaded ? sha256(loaded.text) : null,
      apt: await aptStateDigest(),
      store: store.root,
    }),
  );
  const cacheFile = join(paths.cache(env), "deb", `${cacheKey}.json`);
  const cached = await readCache(cacheFile, store);
  if (cached) return cached;

  progress.step(`asking apt for ${want.name}${version ? `=${version}` : ""} and its dependencies`);
  const closure = await aptClosure({ name: want.name, ...(version ? { version } : {}) }, { exclude, env });
  progress.done();
  const trees = await fetchTrees(store, closure.packages, env, progress);

  const view = new RootView();
  for (const rec of closure.packages) {
    const t = trees.get(rec.name)!;
    view.add(rec.name, t.root, t.index);
  }

  const programPath = findProgram(view, want.name, programHint, closure.packages);
  const prog = view.lookup(programPath)!;
  const starts = [programPath];
  const listed: { path: string; look: NonNullable<ReturnType<RootView["lookup"]>> }[] = [];
  // A glob (*, ?, **) names every path of the packages it matches; a plain path names one file or directory.
  const expanded = extraFiles.flatMap((f) => {
    if (!/[*?]/.test(f)) return [f];
    const re = globRegExp(f);
    const hits = [...view.files.keys()].filter((p) => re.test(p)).sort();
    return hits.length ? hits : [f];
  });
  for (const f of expanded) {
    const l = /[*?]/.test(f) ? undefined : view.lookup(f);
    if (!l) {
      throw new KilnError(
        "KILN_EDEB_FILE_MISSING",
        `The run-time file ${q(f)} listed for ${want.name} (by --include or a recipe's [deb] files) is in none of its packages (${closure.packages.map((p) => p.name).join(", ")})`,
        "Fix the path or glob (dpkg -L PACKAGE lists a package's files), or add the package that ships it as a dependency.",
      );
    }
    const paths = l.isDir ? view.under(l.path) : [f];
    for (const p of paths) {
      const pl = view.lookup(p);
      if (!pl) continue; // a dangling symlink inside a listed directory: the loader would not find it either
      listed.push({ path: p, look: pl });
      if (pl.file && (await isElf(pl.file.host))) starts.push(p);
    }
  }

  progress.step(`finding the shared-library closure of ${programPath}`);
  const c = await elfClosure(view, starts);
  if (c.missing.length) {
    progress.done();
    throw missingError(programPath, c.missing, closure.packages);
  }
  // Data is taken as found: a library a plugin or a runtime's extension module needs and no package of the
  // closure ships makes that module fail when loaded, as on a Debian system without the package.
  const dataStarts: string[] = [];
  if (withData) {
    const own = [want.name, ...prog.links.map((k) => k.file.pkg), prog.file!.pkg];
    for (const p of debDataPaths(view, closure.packages, own, [
      programPath,
      prog.path,
      ...c.objects.keys(),
    ])) {
      const pl = view.lookup(p);
      if (!pl || pl.path === prog.path) continue; // dangling: the loader would not find it either
      if (pl.isDir) {
        for (const k of pl.links) listed.push({ path: k.path, look: { ...pl, links: [k] } });
        continue; // a link to a directory: the directory's own files are taken (or not) on their own
      }
      listed.push({ path: p, look: pl });
      if (await isLoadable(pl.file!.host, pl.path, pl.file!.mode)) dataStarts.push(pl.path);
    }
  }

  const d = dataStarts.length ? await elfClosure(view, dataStarts) : undefined;
  progress.done();

  const files = new Map<string, DebProgramFile>();
  const addFile = (dest: string, f: DebProgramFile) => {
    if (dest !== programPath && !files.has(dest)) files.set(dest, f);
  };
  const programReal = prog.path;
  // The program's closure, then the data's (taken as found).
  for (const closure of d ? [c, d] : [c]) {
    for (const [path, f] of closure.links) {
      if (path === programPath) continue;
      addFile(path, { src: f.host, dest: path, symlink: f.target!, package: f.pkg });
    }
    for (const o of closure.objects.values()) {
      if (o.path === programReal) continue;
      addFile(o.path, { src: o.file.host, dest: o.path, mode: o.file.mode, package: o.file.pkg });
    }
  }
  for (const { look } of listed) {
    for (const k of look.links)
      addFile(k.path, { src: k.file.host, dest: k.path, symlink: k.file.target!, package: k.file.pkg });
    if (look.file)
      addFile(look.path, {
        src: look.file.host,
        dest: look.path,
        mode: look.file.mode,
        package: look.file.pkg,
      });
  }
  for (const f of added) {
    // Not addFile: a recipe's file where the packages have one would be silently dropped.
    if (files.has(f.dest) || f.dest === programPath)
      throw usageError(
        "KILN_EPATH_CONFLICT",
        `Cannot put ${q(f.src)} at ${q(f.dest)}: the Debian packages of ${want.name} have a file there`,
        "Choose another destination in the recipe's [image] files.",
      );
    files.set(f.dest, { src: f.src, dest: f.dest });
  }

  const info = (rec: DebRecord): DebPackageInfo => {
    const cr = view.lookup(`/usr/share/doc/${rec.name}/copyright`);
    return {
      name: rec.name,
      version: rec.version,
      architecture: rec.architecture,
      source: rec.source,
      sourceVersion: rec.sourceVersion,
      sha256: rec.sha256,
      ...(cr?.file ? { copyrightFile: cr.file.host } : {}),
    };
  };
  // The package asked for first (it may ship only a symlink to the program), then the program's own.
  const head = [...new Set([want.name, ...prog.links.map((k) => k.file.pkg), prog.file!.pkg])];
  const used = new Set<string>([...files.values()].flatMap((f) => (f.package ? [f.package] : [])));
  const byName = new Map(closure.packages.map((r) => [r.name, r]));
  const ordered = [...head, ...[...used].filter((n) => !head.includes(n)).sort()].filter((n) =>
    byName.has(n),
  );
  const scripts: MaintainerScript[] = [];
  for (const rec of closure.packages) {
    const got = await readDebControlFiles(store.blobPath(rec.sha256), ["preinst", "postinst"]);
    for (const [name, text] of got) scripts.push({ pkg: rec.name, name, text });
  }
  const base = baseAccounts();
  const accounts = maintainerAccounts(scripts, base);
  const madeAccounts =
    accounts.users.length > base.users.length ||
    accounts.groups.length > base.groups.length ||
    accounts.groups.some((g, i) => g.members.length !== base.groups[i]?.members.length);
  const { files: _f, ...image } = loaded?.toml.image ?? {};
  const result: DebProgram = {
    spec,
    program: { src: prog.file!.host, dest: programPath },
    files: [...files.values()].sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0)),
    packages: ordered.map((n) => info(byName.get(n)!)),
    resolved: closure.packages.map(info),
    ...(loaded?.toml.image ? { image } : {}),
    ...(loaded ? { recipe: loaded.file } : {}),
    ...(madeAccounts ? { accounts } : {}),
  };
  await writeFileAtomic(
    cacheFile,
    `${JSON.stringify({ trees: closure.packages.map((p) => `deb-${p.sha256}`), result })}\n`,
  );
  return result;
}

async function readCache(file: string, store: Store): Promise<DebProgram | undefined> {
  try {
    const c = JSON.parse(await readFile(file, "utf8")) as { trees: string[]; result: DebProgram };
    for (const t of c.trees) if (!(await store.hasTree(t))) return undefined;
    return c.result;
  } catch {
    return undefined;
  }
}

/** Each package's unpacked tree, downloading (one apt-get call) and unpacking those not in the store. */
async function fetchTrees(
  store: Store,
  recs: readonly DebRecord[],
  env: NodeJS.ProcessEnv,
  progress: Progress,
) {
  const missing: DebRecord[] = [];
  // The .deb stays too: its maintainer scripts say which accounts the package makes.
  for (const r of recs)
    if (!(await store.hasTree(`deb-${r.sha256}`)) || !(await store.has(r.sha256))) missing.push(r);
  if (missing.length) {
    progress.step(`downloading ${missing.length} Debian package${missing.length === 1 ? "" : "s"}`);
    await store.withTmpDir(async (dir) => {
      const got = await aptDownloadAll(missing, dir, env);
      for (const r of missing) {
        const blob = await store.put(got.get(r.name)!, r.sha256);
        if (!(await store.hasTree(`deb-${r.sha256}`)))
          await store.putTree(`deb-${r.sha256}`, async (root) => {
            await unpackDebRoot(blob.path, root);
          });
      }
    });
    progress.done();
  }
  const out = new Map<string, Awaited<ReturnType<Store["openTree"]>>>();
  for (const r of recs) out.set(r.name, await store.openTree(`deb-${r.sha256}`));
  return out;
}

function findProgram(
  view: RootView,
  name: string,
  hint: string | undefined,
  recs: readonly DebRecord[],
): string {
  // Debian 12's /bin is /usr/bin on disk, but packages still ship some programs under /bin: a path is found
  // under either name.
  const merged = hint?.replace(/^\/usr\/(s?bin|lib)\//, "/$1/");
  const unmerged = hint?.replace(/^\/(s?bin|lib)\//, "/usr/$1/");
  const tries = hint
    ? [...new Set([hint, merged!, unmerged!])]
    : [`/usr/bin/${name}`, `/usr/sbin/${name}`, `/bin/${name}`, `/sbin/${name}`];
  for (const t of tries) if (view.lookup(t)?.file) return t;
  const programs = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
    .flatMap((d) => view.under(d).filter((p) => posix.dirname(p) === d && view.files.get(p)?.pkg === name))
    .slice(0, 12);
  throw usageError(
    "KILN_EDEB_PROGRAM",
    `Debian package ${q(name)} has no program ${tries.map((t) => q(t)).join(" or ")}${programs.length ? `; it ships ${programs.join(", ")}` : ` (packages: ${recs.map((r) => r.name).join(", ")})`}`,
    `Name the program: deb:${name}:/usr/sbin/NAME, or --program /usr/sbin/NAME (a recipe's [deb] table takes program = "...").`,
  );
}

/** `*` and `?` within one path component, `**` across components. */
export function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * An x86-64 ELF file the loader could map: shared objects and the package's helper programs (PostgreSQL's
 * initdb beside postgres) among the data, not firmware for other machines.
 */
async function isLoadable(host: string, path: string, mode: number): Promise<boolean> {
  if (!/\.so(\.|$)/.test(path) && (mode & 0o111) === 0) return false;
  const b = await elfHeader(host);
  return b !== undefined && b[4] === 2 && b.readUInt16LE(18) === 62;
}

async function isElf(path: string): Promise<boolean> {
  return (await elfHeader(path)) !== undefined;
}

/** The first 20 bytes of an ELF file (ident, type, machine); undefined for anything else. */
async function elfHeader(path: string): Promise<Buffer | undefined> {
  const { open } = await import("node:fs/promises");
  const fh = await open(path, "r").catch(() => undefined);
  if (!fh) return undefined;
  try {
    const b = Buffer.alloc(20);
    const { bytesRead } = await fh.read(b, 0, 20, 0);
    return bytesRead >= 4 && b.toString("latin1", 0, 4) === "\x7fELF" ? b : undefined;
  } finally {
    await fh.close();
  }
}

function missingError(
  program: string,
  missing: { name: string; neededBy: string }[],
  recs: readonly DebRecord[],
) {
  const byName = new Map<string, Set<string>>();
  for (const m of missing) byName.set(m.name, (byName.get(m.name) ?? new Set()).add(m.neededBy));
  const names = [...byName.keys()].sort();
  return new KilnError(
    "KILN_EDEB_LIBRARY_MISSING",
    `Cannot find ${names.length} shared librar${names.length === 1 ? "y" : "ies"} for ${q(program)} in its Debian packages: ${names
      .map((n) => `${n} (needed by ${[...byName.get(n)!].sort().join(", ")})`)
      .join("; ")}`,
    `The packages searched were ${recs.map((r) => `${r.name} ${r.version}`).join(", ")}. Add the package that ships each library to the recipe (or take it out of [deb] exclude).`,
    { details: { missing: names } },
  );
}
