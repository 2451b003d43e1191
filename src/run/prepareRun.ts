/**
 * `kiln run` before launch: toolchain, build, bake, each skipped when its inputs have not changed. The
 * baked image lands in the cache under a key over everything that goes into it, so a second run of an
 * unchanged target goes straight to launch.
 */

import { readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ProgramInput } from "../bake/bake.js";
import type { KernelChoice } from "../components/kernelChoice.js";
import { sha256, sha256File } from "../core/digest.js";
import { q, usageError } from "../core/errors.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { KILN_VERSION } from "../core/version.js";
import { buildTarget } from "./buildTarget.js";
import { type ImageDefaults, readImageDefaults } from "./imageDefaults.js";
import { isPackageSpec, resolveProgramSpec } from "./programSpec.js";

export interface RunInputs {
  target: string;
  platform?: string;
  kernel?: "stock" | "specialized";
  add?: { src: string; dest: string }[];
  configFile?: string;
  cmdline?: string;
  program?: string;
  /** An nftables ruleset to bake in (--firewall), over a project's [image] firewall. */
  firewall?: string;
  /** Files or globs from a deb: program's packages, beyond what kiln finds (--include). */
  include?: string[];
  /** Debian's dash as /bin/sh (src/run/shellTool.ts); also a recipe's or project's [image] shell. */
  shell?: boolean;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
}

export interface PreparedRun {
  image: string;
  program: string;
  built: "cached" | "built" | "given";
  baked: "cached" | "baked";
  defaults?: ImageDefaults;
  /** The kernel kind, and whether kiln chose it (a specialized kernel found built) or the user did. */
  kernel: KernelChoice;
  /** A one-time hint towards the specialized kernel, when this run is the first to want one. */
  hint?: string;
}

/**
 * Digest of a file or directory tree given to --add (contents and layout), seen as bake sees it: the named
 * path followed, links inside a directory as links (src/bake/addedFiles.ts).
 */
async function addDigest(src: string, top = true): Promise<string> {
  const { lstat, readdir, readlink } = await import("node:fs/promises");
  const st = await (top ? stat(src) : lstat(src)).catch(() => undefined);
  if (!st) return "missing"; // bake reports it with its own error
  if (st.isSymbolicLink()) return `link:${await readlink(src)}`;
  if (st.isFile()) return sha256File(src);
  const parts: string[] = [];
  for (const name of (await readdir(src)).sort())
    parts.push(`${name}:${await addDigest(join(src, name), false)}`);
  return sha256(parts.join("\n"));
}

export async function prepareRun(inputs: RunInputs): Promise<PreparedRun> {
  const env = inputs.env ?? process.env;
  const progress = inputs.progress ?? silentProgress;
  const { ensureToolchain } = await import("../toolchain/toolchain.js");
  const tc = await ensureToolchain({ env });

  let program: string | ProgramInput;
  let built: { kind: string; program: string; cached: boolean; projectDir?: string };
  let defaults: ImageDefaults | undefined;
  if (isPackageSpec(inputs.target)) {
    // No step of its own: the resolver's steps (apt, downloads, the closure) say where the time goes, and a
    // step left open across them would be closed under the last one's name.
    const r = await resolveProgramSpec(inputs.target, {
      env,
      progress,
      ...(inputs.program ? { program: inputs.program } : {}),
      ...(inputs.include?.length ? { files: inputs.include } : {}),
    });
    program = r.input;
    built = { kind: "package", program: r.input.src, cached: true };
    defaults = r.defaults;
  } else {
    if (inputs.include?.length)
      throw usageError(
        "KILN_EOPTION_CONFLICT",
        `--include ${q(inputs.include[0])} does not apply to ${q(inputs.target)}: it takes files from a deb: program's packages`,
        "Use --add SRC:/DEST for files of your own.",
      );
    built = await buildTarget(inputs.target, tc, {
      ...(inputs.program ? { program: inputs.program } : {}),
      env,
      progress,
    });
    program = built.program;
    defaults = built.projectDir ? await readImageDefaults(built.projectDir) : undefined;
  }
  const platform = inputs.platform ?? defaults?.platform ?? "qemu";
  // [image] firewall: checked with Debian's nft before anything is baked, as `kiln bake --firewall`.
  let firewall: { file: string; program: ProgramInput } | undefined;
  const rules = inputs.firewall ?? defaults?.firewall;
  if (rules) {
    const { checkRuleset, resolveNft } = await import("./firewall.js");
    const nft = await resolveNft({ env, progress });
    await checkRuleset(rules, nft, { env });
    firewall = { file: rules, program: nft };
  }
  const { FIREWALL_COMPONENTS } = await import("../bake/bake.js");
  const { chooseKernel } = await import("../components/kernelChoice.js");
  // A recipe's components (PostgreSQL's ipc.sysv) and a firewall's.
  const components = [
    ...new Set([...(defaults?.components ?? []), ...(firewall ? FIREWALL_COMPONENTS : [])]),
  ];
  const choice = await chooseKernel({
    platform,
    ...(inputs.kernel ? { requested: inputs.kernel } : {}),
    ...(components.length ? { components } : {}),
    env,
  });
  // [image] net, sysctl, routes: the boot configuration's keys, under --config's.
  const config = {
    ...(defaults?.net ? { net: defaults.net } : {}),
    ...(defaults?.sysctl ? { sysctl: defaults.sysctl } : {}),
    ...(defaults?.routes ? { routes: defaults.routes } : {}),
  };
  const kernel = choice.kind;
  // The command line wins over the project's [image] files for the same destination (a documented
  // precedence, not two files at one path: bake refuses those).
  const { initrdPath } = await import("../bake/cpio.js");
  const given = new Set((inputs.add ?? []).map((a) => initrdPath(a.dest)));
  const add = [
    ...Object.entries(defaults?.files ?? {})
      .filter(([dest]) => !given.has(initrdPath(dest)))
      .map(([dest, src]) => ({ src, dest })),
    ...(inputs.add ?? []),
  ];

  // What the platform needs from Debian (its kernel flavour, its hypervisor), fetched once when missing.
  const { fetchPlatformComponents } = await import("../components/fetchPlatform.js");
  const parts =
    kernel === "stock"
      ? await fetchPlatformComponents(platform, { env, progress, ifMissing: true })
      : undefined;
  const { resolvePlatformPrograms } = await import("./platformPrograms.js");
  const platformPrograms = await resolvePlatformPrograms(platform, { env, progress });
  const tools =
    (inputs.shell ?? defaults?.shell)
      ? [await (await import("./shellTool.js")).resolveShell({ env, progress })]
      : [];
  const key = sha256(
    JSON.stringify({
      kiln: KILN_VERSION,
      // A development kiln changes its PID 1 without changing its version.
      init: (await import("../bake/kilnInit.js")).kilnInitSourceDigest(),
      program: await sha256File(built.program),
      name: basename(built.program),
      // A package's program: where it goes and what comes with it (store paths carry their digests).
      input: typeof program === "string" ? null : program,
      platform,
      kernel,
      stock: parts?.kernel.sha256 ?? null,
      specialized: choice.configHash ?? null,
      hypervisor: parts?.hypervisor?.sha256 ?? null,
      platformPrograms,
      tools,
      components,
      add: await Promise.all(add.map(async (a) => [a.dest, await addDigest(a.src)])),
      config: inputs.configFile ? sha256(await readFile(inputs.configFile)) : null,
      imageConfig: config,
      firewall: firewall ? [await sha256File(firewall.file), firewall.program] : null,
      cmdline: inputs.cmdline ?? null,
      sourceDateEpoch: env.SOURCE_DATE_EPOCH ?? null,
      toolchain: [tc.backing.path, tc.backing.version],
    }),
  );
  const image = join(paths.cache(env), "images", key);
  // A cached image that was changed (or damaged) since is baked again, not booted.
  const { openImage } = await import("../manifest/imageManifest.js");
  const hit = await openImage(image, { env }).then(
    () => true,
    () => false,
  );
  if (!hit) {
    const { bake } = await import("../bake/bake.js");
    progress.step(`baking ${basename(typeof program === "string" ? program : program.dest)} for ${platform}`);
    await bake({
      platform,
      out: image,
      programs: [program],
      platformPrograms,
      tools,
      ...(components.length ? { components } : {}),
      kernel,
      add,
      ...(inputs.configFile ? { configFile: inputs.configFile } : {}),
      ...(Object.keys(config).length ? { config } : {}),
      ...(firewall ? { firewall } : {}),
      ...(inputs.cmdline ? { cmdline: inputs.cmdline } : {}),
      // The cache's own directory: whatever is left there is kiln's to replace.
      force: true,
      env,
    });
    progress.done();
  }
  const { pendingFastPathHint } = await import("./fastPathHint.js");
  const hint = await pendingFastPathHint(choice, platform, env);
  return {
    image,
    program: built.program,
    kernel: choice,
    ...(hint ? { hint } : {}),
    built: built.kind === "program" || built.kind === "package" ? "given" : built.cached ? "cached" : "built",
    baked: hit ? "cached" : "baked",
    ...(defaults ? { defaults } : {}),
  };
}
