/**
 * `pkg:NAME[@RANGE]` for `kiln bake` and `kiln run`: the program a package provides, installed and ready to
 * bake. The spec is installed as a small project of its own under KILN_HOME/pkg/specs/ (so it has a
 * kiln.lock, reuses builds and artifacts from the store, and keeps them alive for `kiln gc`), from the
 * repositories given, else kiln's own catalogue (packages/). A Debian-sourced recipe answers with its
 * Debian program and closure (debProgram.ts).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { sha256 } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { parseNameRange } from "./addDependency.js";
import type { DebProgram, DebProgramFile } from "./debProgram.js";
import { catalogueDir } from "./debProgram.js";
import { type InstallReport, installProject } from "./install.js";
import { pkgStateDir } from "./installedState.js";
import type { Image } from "./recipe.js";

export interface PkgProgram {
  spec: string;
  name: string;
  version: string;
  /** The program (a static musl program from the prefix, or a Debian program). */
  program: { src: string; dest: string };
  /** What else the image needs: empty for static programs; the closure for Debian ones. */
  files: DebProgramFile[];
  image?: Omit<Image, "files">;
  /** Debian-sourced: the packages, versions and copyright files (for the SBOM). */
  deb?: DebProgram;
  install: InstallReport;
}

export async function resolvePkgProgram(
  spec: string,
  opts: {
    repos?: readonly string[];
    mirrors?: readonly string[];
    env?: NodeJS.ProcessEnv;
    progress?: Progress;
  } = {},
): Promise<PkgProgram> {
  const env = opts.env ?? process.env;
  const { name, range } = parseNameRange(spec.replace(/^pkg:/, ""));
  const repos = (opts.repos?.length ? opts.repos : [catalogueDir()]).map((r) =>
    /^[a-z]+:\/\//.test(r) ? r : resolve(r),
  );
  const dir = join(pkgStateDir(env), "specs", sha256(JSON.stringify({ name, range, repos })).slice(0, 24));
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "kiln.toml"),
    `# kiln ${spec}: written by kiln for \`pkg:\` specs\nrepositories = ${JSON.stringify(repos)}\n[dependencies]\n${JSON.stringify(name)} = ${JSON.stringify(range)}\n`,
  );
  const install = await installProject({
    dir,
    ...(opts.mirrors ? { mirrors: opts.mirrors } : {}),
    env,
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  const pkg = install.packages.find((p) => p.name === name)!;
  const { loadToml } = await import("./loadRecipe.js");
  const { readLock } = await import("./lockfile.js");
  const locked = (await readLock(dir))!.packages.find((p) => p.name === name)!;
  // The recipe's image defaults and, for Debian recipes, the program with its closure.
  const { openStore } = await import("../core/store.js");
  const { openRepository } = await import("./openRepository.js");
  const repo = await openRepository(locked.repository, openStore(env), { env });
  const meta = (await repo.list(name)).find((m) => m.version === locked.version);
  if (meta?.deb) {
    const { resolveDebProgram } = await import("./debProgram.js");
    const recipeDir = await repo.fetchRecipe(meta);
    const deb = await resolveDebProgram(`deb:${meta.deb}`, {
      env,
      recipe: recipeDir,
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    return {
      spec,
      name,
      version: pkg.version,
      program: deb.program,
      files: deb.files,
      ...(deb.image ? { image: deb.image } : {}),
      deb,
      install,
    };
  }
  const recipe = meta ? await loadToml(await repo.fetchRecipe(meta)) : undefined;
  const image = recipe?.toml.image;
  const programs = pkg.programs;
  const chosen = image?.program
    ? programs.find((p) => basename(p) === image.program)
    : programs.length === 1
      ? programs[0]
      : undefined;
  if (!chosen) {
    throw new KilnError(
      "KILN_EPKG_PROGRAM",
      programs.length
        ? `Package ${q(`${name} ${pkg.version}`)} provides several programs (${programs.map((p) => basename(p)).join(", ")}) and its recipe names none in [image] program`
        : `Package ${q(`${name} ${pkg.version}`)} provides no program`,
      programs.length
        ? 'Set program = "NAME" in the recipe\'s [image] table.'
        : "Bake a package that lists programs in [provides].",
    );
  }
  const { files: _f, ...defaults } = image ?? {};
  return {
    spec,
    name,
    version: pkg.version,
    program: { src: chosen, dest: `/bin/${basename(chosen)}` },
    files: [],
    ...(image ? { image: defaults } : {}),
    install,
  };
}
