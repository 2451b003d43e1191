/**
 * `kiln pkg install` (and the dependency half of `kiln pkg build`): a project's ranges → resolution over
 * its repositories (kiln.lock's versions preferred) → for each package, dependencies first: the artifact
 * named by the lock if the store has it, else the repository's build, else a build from the recipe here →
 * installed into kiln's prefix → kiln.lock written → the store objects used recorded for `kiln gc`.
 *
 * When kiln.lock matches kiln.toml's ranges and every locked artifact is installed, nothing else is read:
 * no repository is asked, nothing is built (the fast path of a second install).
 */
import { join } from "node:path";
import { KilnError, q, usageError } from "../core/errors.js";
import { type Progress, silentProgress } from "../core/progress.js";
import type { RegistryTimeouts } from "../core/registry/timeouts.js";
import { openStore, type Store } from "../core/store.js";
import type { ToolchainInfo } from "../toolchain/toolchain.js";
import { buildRecipe } from "./buildRecipe.js";
import type { DebProgram } from "./debProgram.js";
import { type LoadedRecipe, type LoadedToml, loadRecipe, loadToml } from "./loadRecipe.js";
import {
  LOCKFILE,
  type LockedPackage,
  type Lockfile,
  lockChanges,
  readLock,
  renderLock,
  requiresDigest,
  writeLock,
} from "./lockfile.js";
import { openRepository, RepositorySet } from "./openRepository.js";
import { installPackage, isInstalled, prefixDir, readInstalled } from "./prefix.js";
import { isRecipe } from "./recipe.js";
import { recipeArchive } from "./recipeArchive.js";
import type { PackageMeta, Repository } from "./repository.js";
import { type Resolution, resolve } from "./resolver.js";
import { writeRoot } from "./roots.js";

export interface InstallOptions {
  /** The project directory (holding kiln.toml). */
  dir: string;
  /** More repositories (from --repo), relative to the current directory. */
  repos?: readonly string[];
  frozen?: boolean;
  mirrors?: readonly string[];
  insecure?: boolean;
  /** Time limits for OCI registries (src/core/registry/timeouts.ts). */
  timeouts?: Partial<RegistryTimeouts>;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Build (and install) the project's own recipe too, after its dependencies: `kiln pkg build`. */
  self?: boolean;
}

export interface PackageReport {
  name: string;
  version: string;
  repository: string;
  artifact?: string;
  /** How the artifact was had: from the store (locked), the repository's build, or built now. */
  how: "store" | "repository" | "built" | "cached-build" | "debian";
  /** Whether files in the prefix changed. */
  installed: boolean;
  /** Absolute paths of its programs in the prefix (bin/...). */
  programs: string[];
  deb?: { program: string; files: number; packages: string[] };
}

export interface InstallReport {
  project: string;
  lockfile: string;
  prefix: string;
  /** Nothing to do: the lock matched and everything was installed. */
  upToDate: boolean;
  lockChanged: boolean;
  changes: string[];
  packages: PackageReport[];
  /** `self`: the project's own build. */
  self?: PackageReport & { recipe: string; artifactPath: string; meta: PackageMeta };
}

interface Planned {
  name: string;
  version: string;
  meta: PackageMeta;
  repo: Repository;
  deps: string[];
}

export async function installProject(opts: InstallOptions): Promise<InstallReport> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  if (!opts.self) {
    const { fastInstall } = await import("./fastInstall.js");
    const fast = await fastInstall(opts.dir, env);
    if (fast) return fast;
  }
  const project = await loadToml(opts.dir);
  const deps = project.toml.dependencies ?? {};
  const buildDeps = project.toml["build-dependencies"] ?? {};
  const requires = requiresDigest(deps, buildDeps);
  const lock = await readLock(project.dir);
  const lockfile = join(project.dir, LOCKFILE);
  const prefix = prefixDir(env);
  const store = openStore(env);

  if (!opts.self && lock && lock.requires === requires) {
    const fast = await upToDate(lock, env);
    if (fast)
      return {
        project: project.dir,
        lockfile,
        prefix,
        upToDate: true,
        lockChanged: false,
        changes: [],
        packages: fast,
      };
  }

  const repos = await openRepos(project, opts, store, env);
  const set = new RepositorySet(repos);
  const label = isRecipe(project.toml) ? `${project.toml.name} ${project.toml.version}` : "kiln.toml";
  let resolution: Resolution = { packages: [], backtracks: 0 };
  if (Object.keys(deps).length || Object.keys(buildDeps).length) {
    progress.step("resolving dependencies");
    const prefer = new Map((lock?.packages ?? []).map((p) => [p.name, p.version]));
    resolution = await resolve({ label, dependencies: deps, extra: buildDeps }, set, { prefer });
    progress.done(
      `resolved ${resolution.packages.length} package${resolution.packages.length === 1 ? "" : "s"}`,
    );
  }
  const plan: Planned[] = [];
  for (const p of resolution.packages) {
    const hit = (await set.listWithSource(p.name)).find((x) => x.meta.version === p.version)!;
    plan.push({
      name: p.name,
      version: p.version,
      meta: hit.meta,
      repo: hit.repo,
      deps: Object.keys(p.dependencies),
    });
  }
  const order = topological(plan);
  const locked: LockedPackage[] = order.map((p) => ({
    name: p.name,
    version: p.version,
    repository: p.repo.spec,
    recipe: p.meta.recipe.sha256,
    dependencies: p.deps.map((d) => `${d} ${plan.find((x) => x.name === d)!.version}`).sort(),
    sources: p.meta.sources,
  }));
  const old = new Map((lock?.packages ?? []).map((p) => [p.name, p]));
  if (opts.frozen) {
    const strip = (l: LockedPackage[]) =>
      l.map(({ artifact: _a, ...rest }) =>
        rest.sources.some((s) => s.url?.startsWith("deb:")) ? { ...rest, sources: [] } : rest,
      );
    const before: Lockfile = { requires: lock?.requires ?? "", packages: strip(lock?.packages ?? []) };
    const after: Lockfile = { requires, packages: strip(locked) };
    if (!lock || renderLock(before) !== renderLock(after))
      throw frozenError(lockfile, lockChanges(lock, { requires, packages: locked }), !lock);
  }

  const reports: PackageReport[] = [];
  const artifactOf = new Map<string, string>();
  const blobs = new Set<string>();
  const trees = new Set<string>();
  let tc: ToolchainInfo | undefined;
  const toolchain = async () => {
    if (!tc) {
      const { ensureToolchain } = await import("../toolchain/toolchain.js");
      // Not the system toolchain: its prefix (/usr/lib/kiln/prefix) is not the user's to install into.
      tc = await ensureToolchain({ env, system: false });
    }
    return tc;
  };
  const transitive = (name: string): Record<string, string> => {
    const out: Record<string, string> = {};
    const walk = (n: string) => {
      for (const d of plan.find((x) => x.name === n)?.deps ?? []) {
        if (d in out) continue;
        out[d] = artifactOf.get(d) ?? "";
        walk(d);
      }
    };
    walk(name);
    return out;
  };
  let selfReport: InstallReport["self"];

  await store.withLock("pkg-prefix", async () => {
    const state = await readInstalled(env);
    for (const [i, p] of order.entries()) {
      const entry = locked[i]!;
      const was = old.get(p.name);
      blobs.add(p.meta.recipe.sha256);
      for (const s of p.meta.sources) if (s.url) blobs.add(s.sha256);
      if (p.meta.deb) {
        const dir = await p.repo.fetchRecipe(p.meta);
        const { resolveDebProgram } = await import("./debProgram.js");
        const d = await resolveDebProgram(`deb:${p.meta.deb}`, { env, recipe: dir, progress });
        entry.sources = d.resolved.map((r) => ({ url: `deb:${r.name}=${r.version}`, sha256: r.sha256 }));
        if (opts.frozen && was && JSON.stringify(was.sources) !== JSON.stringify(entry.sources)) {
          throw frozenError(lockfile, [`~ ${p.name} ${p.version}: Debian packages`], false);
        }
        for (const r of d.resolved) {
          blobs.add(r.sha256);
          trees.add(`deb-${r.sha256}`);
        }
        reports.push({
          name: p.name,
          version: p.version,
          repository: p.repo.spec,
          how: "debian",
          installed: false,
          programs: [],
          deb: debSummary(d),
        });
        continue;
      }
      let how: PackageReport["how"];
      let sha: string;
      let path: string;
      if (
        was?.artifact &&
        was.version === p.version &&
        was.recipe === entry.recipe &&
        (await store.has(was.artifact))
      ) {
        sha = was.artifact;
        path = store.blobPath(sha);
        how = "store";
      } else if (p.meta.artifact) {
        progress.step(`fetching the build of ${p.name} ${p.version}`);
        path = (await p.repo.fetchArtifact(p.meta))!;
        sha = p.meta.artifact.sha256;
        how = "repository";
        progress.done();
      } else {
        const dir = await p.repo.fetchRecipe(p.meta);
        if (dir.startsWith(store.root)) trees.add(`recipe-${p.meta.recipe.sha256}`);
        const recipe = await loadRecipe(dir);
        const r = await buildRecipe({
          recipe,
          recipeSha: p.meta.recipe.sha256,
          tc: await toolchain(),
          store,
          deps: transitive(p.name),
          mirrors: opts.mirrors ?? [],
          env,
          progress,
        });
        sha = r.artifact.sha256;
        path = r.artifact.path;
        how = r.cached ? "cached-build" : "built";
      }
      if (opts.frozen && was?.artifact && was.artifact !== sha) {
        throw frozenError(
          lockfile,
          [`~ ${p.name} ${p.version}: artifact ${was.artifact.slice(0, 12)} -> ${sha.slice(0, 12)}`],
          false,
        );
      }
      entry.artifact = sha;
      artifactOf.set(p.name, sha);
      blobs.add(sha);
      const changed = await installPackage(
        state,
        { name: p.name, version: p.version, artifact: sha, blobPath: path },
        env,
      );
      reports.push({
        name: p.name,
        version: p.version,
        repository: p.repo.spec,
        artifact: sha,
        how,
        installed: changed,
        programs: (p.meta.provides?.programs ?? []).map((x) => join(prefix, x)),
      });
    }
    if (opts.self)
      selfReport = await buildSelf(project, store, {
        toolchain,
        transitiveAll: Object.fromEntries(artifactOf),
        opts,
        env,
        progress,
        state,
      });
  });

  const next: Lockfile = { requires, packages: locked };
  const changes = lockChanges(lock, next);
  if (opts.frozen && lock && renderLock(lock) !== renderLock(next))
    throw frozenError(lockfile, changes, false);
  // A project without dependencies gets no kiln.lock (there is nothing to pin); one it had is kept current.
  const lockChanged =
    opts.frozen || (!lock && locked.length === 0) ? false : await writeLock(project.dir, next);
  if (selfReport) {
    blobs.add(selfReport.recipe);
    if (selfReport.artifact) blobs.add(selfReport.artifact);
  }
  const { readFile } = await import("node:fs/promises");
  const { sha256 } = await import("../core/digest.js");
  const lockBytes = await readFile(lockfile).catch(() => undefined);
  const hasDeb = locked.some((p) => p.sources.some((s) => s.url?.startsWith("deb:")));
  await writeRoot(
    project.dir,
    blobs,
    trees,
    env,
    lockBytes && !hasDeb
      ? {
          toml: sha256(project.text),
          lock: sha256(lockBytes),
          packages: locked.map((p) => ({
            name: p.name,
            version: p.version,
            repository: p.repository,
            artifact: p.artifact!,
          })),
        }
      : {},
  );
  return {
    project: project.dir,
    lockfile,
    prefix,
    upToDate: false,
    lockChanged,
    changes,
    packages: reports,
    ...(selfReport ? { self: selfReport } : {}),
  };
}

async function buildSelf(
  project: LoadedToml,
  store: Store,
  o: {
    toolchain: () => Promise<ToolchainInfo>;
    transitiveAll: Record<string, string>;
    opts: InstallOptions;
    env: NodeJS.ProcessEnv;
    progress: Progress;
    state: Awaited<ReturnType<typeof readInstalled>>;
  },
): Promise<NonNullable<InstallReport["self"]>> {
  if (!isRecipe(project.toml)) {
    throw usageError(
      "KILN_ERECIPE_INVALID",
      `${q(project.file)} is a project file, not a package recipe: it has no name`,
      "`kiln pkg build` builds a recipe (name, version, license, sources, build); `kiln pkg install` installs a project's dependencies.",
    );
  }
  const recipe = project as LoadedRecipe;
  const archive = await recipeArchive(recipe.dir, store);
  const { recipeMeta } = await import("./recipeArchive.js");
  if (recipe.toml.deb) {
    const { resolveDebProgram } = await import("./debProgram.js");
    const d = await resolveDebProgram(`deb:${recipe.toml.deb.package ?? recipe.toml.name}`, {
      env: o.env,
      recipe: recipe.file,
      progress: o.progress,
    });
    return {
      name: recipe.toml.name,
      version: recipe.toml.version,
      repository: ".",
      how: "debian",
      installed: false,
      programs: [],
      deb: debSummary(d),
      recipe: archive.sha256,
      artifactPath: "",
      meta: await recipeMeta(recipe, archive),
    };
  }
  const r = await buildRecipe({
    recipe,
    recipeSha: archive.sha256,
    tc: await o.toolchain(),
    store,
    deps: o.transitiveAll,
    mirrors: o.opts.mirrors ?? [],
    env: o.env,
    progress: o.progress,
  });
  const changed = await installPackage(
    o.state,
    {
      name: recipe.toml.name,
      version: recipe.toml.version,
      artifact: r.artifact.sha256,
      blobPath: r.artifact.path,
    },
    o.env,
  );
  const prefix = prefixDir(o.env);
  return {
    name: recipe.toml.name,
    version: recipe.toml.version,
    repository: ".",
    artifact: r.artifact.sha256,
    how: r.cached ? "cached-build" : "built",
    installed: changed,
    programs: (recipe.toml.provides?.programs ?? []).map((x) => join(prefix, x)),
    recipe: archive.sha256,
    artifactPath: r.artifact.path,
    meta: await recipeMeta(recipe, archive, { sha256: r.artifact.sha256, size: r.artifact.size }),
  };
}

/** The fast path: every locked package installed with its locked artifact. */
/** What a report says of a Debian-sourced package: its program, how many files came with it, from what. */
function debSummary(d: DebProgram): NonNullable<PackageReport["deb"]> {
  return {
    program: d.program.dest,
    files: d.files.length,
    packages: d.packages.map((x) => `${x.name}=${x.version}`),
  };
}

async function upToDate(lock: Lockfile, env: NodeJS.ProcessEnv): Promise<PackageReport[] | undefined> {
  const state = await readInstalled(env);
  const prefix = prefixDir(env);
  const out: PackageReport[] = [];
  for (const p of lock.packages) {
    if (p.sources.some((s) => s.url?.startsWith("deb:"))) return undefined; // Debian packages: check the store
    if (!p.artifact || !(await isInstalled(state, p.name, p.artifact, env))) return undefined;
    out.push({
      name: p.name,
      version: p.version,
      repository: p.repository,
      artifact: p.artifact,
      how: "store",
      installed: false,
      programs: state.packages[p.name]!.files.filter((f) => f.startsWith("bin/")).map((f) => join(prefix, f)),
    });
  }
  return out;
}

async function openRepos(
  project: LoadedToml,
  opts: InstallOptions,
  store: Store,
  env: NodeJS.ProcessEnv,
): Promise<Repository[]> {
  const specs = [
    ...(opts.repos ?? []).map((s) => ({ s, base: process.cwd() })),
    ...(project.toml.repositories ?? []).map((s) => ({ s, base: project.dir })),
  ];
  const hasDeps =
    Object.keys(project.toml.dependencies ?? {}).length +
      Object.keys(project.toml["build-dependencies"] ?? {}).length >
    0;
  if (specs.length === 0 && hasDeps) {
    throw usageError(
      "KILN_EREPO_NONE",
      `${q(project.file)} has dependencies but names no repository to get them from`,
      'Add repositories = ["DIR", "https://...", "oci://HOST/NAMESPACE"] to kiln.toml, or pass --repo.',
    );
  }
  return Promise.all(
    specs.map(({ s, base }) =>
      openRepository(s, store, {
        base,
        env,
        ...(opts.insecure ? { insecure: true } : {}),
        ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      }),
    ),
  );
}

function topological(plan: Planned[]): Planned[] {
  const byName = new Map(plan.map((p) => [p.name, p]));
  const out: Planned[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (p: Planned, path: string[]) => {
    const s = state.get(p.name);
    if (s === "done") return;
    if (s === "visiting") {
      throw new KilnError(
        "KILN_EDEP_CYCLE",
        `Packages depend on each other in a cycle: ${[...path.slice(path.indexOf(p.name)), p.name].join(" -> ")}`,
        "A cycle cannot be built from source; break it in one of the recipes.",
      );
    }
    state.set(p.name, "visiting");
    for (const d of [...p.deps].sort()) visit(byName.get(d)!, [...path, p.name]);
    state.set(p.name, "done");
    out.push(p);
  };
  for (const p of [...plan].sort((a, b) => (a.name < b.name ? -1 : 1))) visit(p, []);
  return out;
}

function frozenError(lockfile: string, changes: string[], missing: boolean): KilnError {
  return usageError(
    "KILN_ELOCK_FROZEN",
    missing
      ? `--frozen: there is no ${q(lockfile)} to hold to`
      : `--frozen: ${q(lockfile)} would change:\n  ${changes.join("\n  ") || "(its layout)"}`,
    "Run `kiln pkg install` without --frozen to update kiln.lock, and commit it.",
    { changes },
  );
}
