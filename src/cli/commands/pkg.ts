import type { Command } from "commander";
import { type CommonOpts, progressFor, report, table, withCommon } from "../context.js";
import { type RegistryTimeoutOpts, registryTimeouts, withRegistryTimeouts } from "../registryOptions.js";

interface RepoOpts extends CommonOpts, RegistryTimeoutOpts {
  repo: string[];
  insecure?: boolean;
}

interface BuildOpts extends RepoOpts {
  mirror: string[];
  frozen?: boolean;
}

interface PublishOpts extends BuildOpts {
  replace?: boolean;
  recipeOnly?: boolean;
}

interface AddOpts extends RepoOpts {
  build?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** How to talk to OCI registries among the repositories. */
function connection(opts: RepoOpts) {
  return { ...(opts.insecure ? { insecure: true } : {}), ...registryTimeouts(opts) };
}

function withRepos(cmd: Command): Command {
  return withRegistryTimeouts(
    cmd
      .option(
        "--repo <repo>",
        "a repository: DIR, http(s)://URL or oci://HOST[:PORT]/NAMESPACE (repeatable)",
        collect,
        [],
      )
      .option("--insecure", "plain http to an OCI registry that is not on loopback"),
  );
}

function withBuild(cmd: Command): Command {
  return withRepos(cmd)
    .option(
      "--mirror <url>",
      "fetch URL sources from this base URL first, by file name (repeatable; also KILN_MIRRORS)",
      collect,
      [],
    )
    .option("--frozen", "fail if kiln.lock would change");
}

async function mirrors(opts: BuildOpts, env: NodeJS.ProcessEnv): Promise<string[]> {
  const { mirrorsFrom } = await import("../../pkg/fetchSource.js");
  return mirrorsFrom(env, opts.mirror);
}

type Report = import("../../pkg/install.js").InstallReport;

function renderInstall(d: Report, verb: string): string {
  if (d.upToDate)
    return `up to date: ${d.packages.length} package${d.packages.length === 1 ? "" : "s"} from ${d.lockfile}`;
  const rows = d.packages.map((p) => [
    `${p.name} ${p.version}`,
    p.how === "debian" ? `debian: ${p.deb!.program} + ${p.deb!.files} files` : p.how,
    p.installed ? "installed" : "unchanged",
    p.artifact ? p.artifact.slice(0, 12) : "",
  ]);
  const self = d.self
    ? [
        `${verb} ${d.self.name} ${d.self.version}: ${d.self.how}${d.self.artifact ? `, artifact sha256 ${d.self.artifact}` : ""}`,
        ...d.self.programs.map((p) => `  program ${p}`),
        ...(d.self.deb
          ? [
              `  program ${d.self.deb.program} with ${d.self.deb.files} files from ${d.self.deb.packages.join(", ")}`,
            ]
          : []),
      ]
    : [];
  return [
    ...(rows.length ? [table(rows)] : []),
    ...self,
    `prefix ${d.prefix}`,
    d.lockChanged ? `wrote ${d.lockfile}: ${d.changes.join(", ")}` : `${d.lockfile} unchanged`,
  ].join("\n");
}

export function register(program: Command): void {
  const pkg = program
    .command("pkg")
    .description("packages: build recipes, resolve and install dependencies, publish to repositories")
    .addHelpText(
      "after",
      "\nExamples:\n  kiln pkg add kz@^1.0 --repo ./packages\n  kiln pkg install\n  kiln pkg build packages/kzcat --repo packages\n  kiln pkg publish oci://127.0.0.1:5000/kiln packages/kz\n  kiln pkg search --repo https://example.org/kiln-repo",
    );

  withCommon(
    withBuild(
      pkg
        .command("build")
        .description(
          "resolve and install a recipe's dependencies, build it with the kiln toolchain, install it into kiln's prefix",
        )
        .argument("[dir]", "the recipe's directory (holding kiln.toml)", ".")
        .addHelpText(
          "after",
          "\nExample:\n  kiln pkg build packages/kzcat --repo packages --mirror http://127.0.0.1:8000/",
        ),
    ),
  ).action(async (dir: string, opts: BuildOpts) => {
    const { installProject } = await import("../../pkg/install.js");
    const r = await installProject({
      dir,
      repos: opts.repo,
      mirrors: await mirrors(opts, process.env),
      self: true,
      ...(opts.frozen ? { frozen: true } : {}),
      ...connection(opts),
      progress: await progressFor(opts),
    });
    const { meta: _m, ...self } = r.self!;
    report(opts, { ...r, self }, (d) => renderInstall(d as Report, "built"));
  });

  withCommon(
    withBuild(
      pkg
        .command("install")
        .description(
          "resolve the project's dependencies (kiln.lock), fetch or build them, install them into kiln's prefix",
        )
        .argument("[dir]", "the project's directory (holding kiln.toml)", ".")
        .addHelpText(
          "after",
          "\nExamples:\n  kiln pkg install\n  kiln pkg install --frozen   # in CI: fail if kiln.lock is not current",
        ),
    ),
  ).action(async (dir: string, opts: BuildOpts) => {
    // Most installs find everything in place: answer that without loading the resolver and its schemas.
    const { fastInstall } = await import("../../pkg/fastInstall.js");
    const fast = opts.repo.length === 0 && opts.mirror.length === 0 ? await fastInstall(dir) : undefined;
    if (fast) {
      report(opts, fast, (d) => renderInstall(d, "installed"));
      return;
    }
    const { installProject } = await import("../../pkg/install.js");
    const r = await installProject({
      dir,
      repos: opts.repo,
      mirrors: await mirrors(opts, process.env),
      ...(opts.frozen ? { frozen: true } : {}),
      ...connection(opts),
      progress: await progressFor(opts),
    });
    report(opts, r, (d) => renderInstall(d, "installed"));
  });

  withCommon(
    withBuild(
      pkg
        .command("publish")
        .description(
          "build a recipe and publish it (recipe and build) to a repository: a directory or an OCI registry",
        )
        .argument("<repo>", "DIR (made if missing) or oci://HOST[:PORT]/NAMESPACE")
        .argument("[dir]", "the recipe's directory", ".")
        .option("--replace", "overwrite the same version with other content")
        .option("--recipe-only", "publish the recipe without its build")
        .addHelpText(
          "after",
          "\nExamples:\n  kiln pkg publish ./repo packages/kz --mirror http://127.0.0.1:8000/\n  kiln pkg publish oci://127.0.0.1:5000/kiln packages/kz",
        ),
    ),
  ).action(async (target: string, dir: string, opts: PublishOpts) => {
    const { publishRecipe } = await import("../../pkg/publish.js");
    const r = await publishRecipe(target, {
      dir,
      repos: opts.repo,
      mirrors: await mirrors(opts, process.env),
      ...(opts.frozen ? { frozen: true } : {}),
      ...connection(opts),
      ...(opts.replace ? { replace: true } : {}),
      ...(opts.recipeOnly ? { recipeOnly: true } : {}),
      progress: await progressFor(opts),
    });
    const { build: _b, ...out } = r;
    report(opts, out, (d) =>
      [
        `${d.changed ? "published" : "already there:"} ${d.name} ${d.version} to ${d.repository}`,
        `  recipe   sha256 ${d.recipe}`,
        ...(d.artifact ? [`  artifact sha256 ${d.artifact}`] : ["  (recipe only)"]),
        `  ${d.repository.startsWith("oci://") ? "manifest" : "index"} ${d.digest}`,
      ].join("\n"),
    );
  });

  withCommon(
    withRepos(
      pkg
        .command("search")
        .description(
          "list the packages repositories offer (newest version of each), optionally matching TERM",
        )
        .argument("[term]", "part of a name or description", "")
        .addHelpText("after", "\nExample:\n  kiln pkg search kz --repo packages"),
    ),
  ).action(async (term: string, opts: RepoOpts) => {
    const { searchPackages } = await import("../../pkg/query.js");
    const r = await searchPackages(term, { repos: opts.repo, ...connection(opts) });
    report(opts, r, (d) =>
      d.length
        ? table(
            d.map((h) => [
              h.name,
              h.version,
              h.license,
              h.prebuilt ? "prebuilt" : "recipe",
              h.description ?? "",
            ]),
          )
        : `no package matches ${JSON.stringify(term)}`,
    );
  });

  withCommon(
    withRepos(
      pkg
        .command("info")
        .description(
          "every version of a package, with its licence, dependencies, digests and what it provides",
        )
        .argument("<name>", "NAME or NAME@RANGE")
        .addHelpText("after", "\nExample:\n  kiln pkg info kzcat@^1 --repo packages"),
    ),
  ).action(async (spec: string, opts: RepoOpts) => {
    const { packageInfo } = await import("../../pkg/query.js");
    const r = await packageInfo(spec, { repos: opts.repo, ...connection(opts) });
    report(opts, r, (d) =>
      d.versions
        .map((v) =>
          [
            `${v.name} ${v.version}${v.matches ? "" : `  (outside ${d.range})`}  ${v.license}  from ${v.repository}`,
            ...(v.description ? [`  ${v.description}`] : []),
            ...Object.entries(v.dependencies).map(([n, r]) => `  needs ${n} ${r}`),
            ...Object.entries(v.buildDependencies).map(([n, r]) => `  builds with ${n} ${r}`),
            ...Object.entries(v.provides ?? {}).flatMap(([k, list]) =>
              (list ?? []).map((x: string) => `  provides ${k.replace(/s$/, "")} ${x}`),
            ),
            ...(v.deb ? [`  from Debian: ${v.deb}`] : []),
            `  recipe sha256 ${v.recipe.sha256}${v.artifact ? `, build sha256 ${v.artifact.sha256}` : ""}`,
          ].join("\n"),
        )
        .join("\n"),
    );
  });

  withCommon(
    withRepos(
      pkg
        .command("add")
        .description(
          "add a dependency (NAME@RANGE) to the project's kiln.toml, checked against its repositories",
        )
        .argument("<spec>", "NAME@RANGE, like kz@^1.0")
        .option("-C, --dir <dir>", "the project's directory", ".")
        .option("--build", "a build-time dependency ([build-dependencies])")
        .addHelpText(
          "after",
          "\nExample:\n  kiln pkg add kz@^1.0 --repo ./packages && kiln pkg install --repo ./packages",
        ),
    ),
  ).action(async (spec: string, opts: AddOpts & { dir: string }) => {
    const { addDependency } = await import("../../pkg/addDependency.js");
    const r = await addDependency(opts.dir, spec, {
      repos: opts.repo,
      ...(opts.build ? { build: true } : {}),
    });
    report(
      opts,
      r,
      (d) =>
        `${d.previous !== undefined ? `changed ${d.name} ${d.previous} -> ${d.range}` : `added ${d.name} ${d.range}`} in [${d.table}] of ${d.file}${d.matching.length ? ` (matches ${d.matching.slice(0, 5).join(", ")})` : ""}`,
    );
  });
}
