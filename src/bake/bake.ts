/**
 * Bake: put a platform's kernel components together with the programs (Rumprun's "bake"). The component
 * set selects the system; the result is an image directory (see image.ts) written atomically.
 */
import { lstat, readFile, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import type { Progress } from "../core/progress.js";
import { silentProgress } from "../core/progress.js";
import { sourceDateEpoch } from "../core/sourceDateEpoch.js";
import { readUserFile } from "../core/userFile.js";
import { KILN_VERSION } from "../core/version.js";
import { type Accounts, resolveUser } from "../manifest/accounts.js";
import { type BootConfig, bootConfigProblem, describeProblem } from "../manifest/bootConfig.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { checkKernelCmdline, LAUNCHER_ROOM, X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";
import { type AddedFile, readAdded } from "./addedFiles.js";
import { type CpioEntry, cpioChunks } from "./cpio.js";
import { imageAccounts } from "./imageAccounts.js";
import { checkInitrdPaths } from "./initrdPaths.js";
import { type CheckedProgram, checkProgram, checkProgramWithClosure } from "./program.js";
import { claimImageDir, writeImageDir } from "./writeImage.js";

export interface BakeOptions {
  platform: string;
  out: string;
  /**
   * The programs: host paths of programs built with the kiln toolchain (they go to /bin/NAME), or prepared
   * programs (a Debian package's, with its shared-library closure). The first runs as `main`, the others in
   * the background before it.
   */
  programs: (string | ProgramInput)[];
  /** Programs only installed, never run (a shell: src/run/shellTool.ts); after the programs. */
  tools?: ProgramInput[];
  kernel?: "stock" | "specialized";
  /** Extra files: host path → absolute path in the image (src/bake/addedFiles.ts). */
  add?: { src: string; dest: string }[];
  /** Symlinks to put in as they are (kiln verify gives back those an image had from --add). */
  links?: { dest: string; target: string }[];
  /** A boot configuration file (JSON) merged over the defaults bake derives from the programs. */
  configFile?: string;
  /** Boot configuration keys (a project's [image] net, sysctl, routes) under configFile's, over the defaults. */
  config?: Partial<BootConfig>;
  /** Extra kernel command line. */
  cmdline?: string;
  /** Extra platform/component catalogue files (-c). */
  catalogues?: string[];
  components?: string[];
  /**
   * The platform's own programs (its `programs` table), resolved by the caller: they come from Debian
   * packages, which bake does not fetch (run/platformPrograms.ts resolves them).
   */
  platformPrograms?: ProgramInput[];
  name?: string;
  /**
   * An nftables ruleset (checked by the caller with the same nft: src/run/firewall.ts) and Debian's nft to
   * load it: the ruleset goes to FIREWALL_PATH, nft runs as the first setup step, the netfilter components
   * join the platform's.
   */
  firewall?: { file: string; program: ProgramInput };
  /** A kiln.toml whose [policy] table (allow/deny SPDX expressions) every part's licence must meet. */
  policyFile?: string;
  /** Bake despite policy violations, recording them in the manifest. */
  allowLicenseViolations?: boolean;
  /** Replace what is at OUT even if it is not an image kiln wrote (src/core/outputPath.ts). */
  force?: boolean;
  /**
   * The time every initrd entry carries, in seconds since 1970 (kiln verify gives the recorded one). Default:
   * SOURCE_DATE_EPOCH, else the newest mtime of the inputs (programs, added files, the Debian files, the
   * configuration file), which the same input files give again.
   */
  mtime?: number;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
}

/** A program that brings what it needs at run time (src/pkg: `deb:` and `pkg:` specs resolve to these). */
export interface ProgramInput {
  src: string;
  /** Where it goes in the image; argv[0] is its basename (some programs choose their mode from it). */
  dest: string;
  args?: string[];
  /**
   * How kiln-init runs it; only a platform's own programs say (run/platformPrograms.ts): "setup" runs to
   * completion first, "bg" in the background, "none" is only installed (a tool, like xl).
   */
  mode?: "setup" | "bg" | "none";
  /** bg: kiln-init waits for this path (a daemon's socket) before it starts the next program. */
  ready?: string;
  env?: Record<string, string>;
  /** Run as this user (a name among the image's users, or a number; NAME:GROUP too), not as root. */
  user?: string;
  /** The memory (MiB) its recipe asks for: the image's default memory is at least this. */
  memory?: number;
  /** The main program's one-shot steps, run to completion before it (as its user): absolute argv[0]. */
  setup?: string[][];
  /** Users and groups the program's packages make (src/pkg/maintainerAccounts.ts). */
  accounts?: Accounts;
  /** The closure: libraries, the ELF interpreter, data files; a symlink when `symlink` is set. */
  files?: { src: string; dest: string; mode?: number; symlink?: string; package?: string }[];
  /** Debian packages the files come from, for the SBOM (copyright read from copyrightFile). */
  packages?: {
    name: string;
    version: string;
    source: string;
    sourceVersion: string;
    copyrightFile?: string;
  }[];
}

export interface BakeResult {
  out: string;
  manifest: ImageManifest;
  sizes: { kernel: number; initrd: number; total: number };
}

/** Where a baked ruleset lives in the image: kiln's own directory, which nothing else may write. */
export const FIREWALL_PATH = "/kiln/firewall.nft";

/**
 * What a ruleset may use on the stock kernel, whose modules nothing loads on demand (no modprobe in the
 * image): tables and chains, conntrack (ct state), NAT (masquerade, snat, dnat, redirect), reject, limit, log.
 * The `router` platform (data/platforms.toml) is qemu with these: `kiln components build router` makes the
 * specialized kernel a firewalled qemu image then takes.
 */
export const FIREWALL_COMPONENTS = [
  // nf.tables' inet and ip6 families need IPv6 (built into the stock kernel; a specialized one gets it).
  "net.ipv6",
  "nf.tables",
  "nf.conntrack",
  "nf.nat",
  "nf.redirect",
  "nf.reject",
  "nf.limit",
  "nf.log",
];

const BASE_CMDLINE = "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests=1";

export function parseAdd(spec: string): { src: string; dest: string } {
  const i = spec.lastIndexOf(":");
  if (i <= 0 || !spec.slice(i + 1).startsWith("/")) {
    throw usageError(
      "KILN_EADD_SPEC",
      `Cannot parse --add ${q(spec)}: expected SRC:/DEST`,
      "Write it like --add ./site:/srv/www or --add app.conf:/etc/app.conf.",
    );
  }
  return { src: spec.slice(0, i), dest: spec.slice(i + 1) };
}

async function loadConfigFile(path: string): Promise<Partial<BootConfig>> {
  let text: string;
  try {
    text = await readUserFile(path, "boot configuration", "utf8");
  } catch (e) {
    throw missingOr(e, path, "read boot configuration", () =>
      usageError(
        "KILN_ECONFIG_NOT_FOUND",
        `Cannot read boot configuration ${q(path)}: no such file`,
        "Give the path of a JSON file.",
      ),
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw usageError(
      "KILN_ECONFIG_INVALID",
      `Cannot parse boot configuration ${q(path)}: ${(e as Error).message}`,
      'The file must be valid JSON, like {"v":1,"env":{"K":"V"}}.',
    );
  }
  const isObject = json !== null && typeof json === "object" && !Array.isArray(json);
  const cfg = isObject ? { v: 1, ...(json as object) } : json;
  checkConfig(cfg, `boot configuration ${q(path)}`);
  return cfg as Partial<BootConfig>;
}

/** What kiln-init would refuse after the machine booted, refused now (the same checks, src/manifest/bootConfig.ts). */
function checkConfig(cfg: unknown, what: string): void {
  const problem = bootConfigProblem(cfg);
  if (!problem) return;
  throw usageError(
    "KILN_ECONFIG_INVALID",
    `Cannot use ${what}: ${describeProblem(problem)}`,
    "See the boot configuration in README.md and guest/README.md (keys v, hostname, env, rc, net, blk, sysctl, routes, cwd, and their limits).",
    { key: problem.path },
  );
}

/** Programs go to /bin/NAME unless they say where; two at one place would shadow each other. */
function programPaths(programs: CheckedProgram[], inputs: ProgramInput[]): string[] {
  const seen = new Map<string, string>();
  return programs.map((p, i) => {
    const dest = inputs[i]?.dest ?? `/bin/${basename(p.path)}`;
    const other = seen.get(dest);
    if (other)
      throw usageError(
        "KILN_EPROGRAM_DUPLICATE",
        `Programs ${q(other)} and ${q(p.path)} would both be ${q(dest)} in the image`,
        "Rename one of them.",
      );
    seen.set(dest, p.path);
    return dest;
  });
}

export async function bake(opts: BakeOptions): Promise<BakeResult> {
  const progress = opts.progress ?? silentProgress;
  const env = opts.env ?? process.env;
  const kind = opts.kernel ?? "stock";
  const out = resolve(opts.out);
  const output = { ...(opts.force ? { force: true } : {}), env };
  await claimImageDir(out, output);

  const checkCmdline = (line: string) =>
    checkKernelCmdline(line, {
      max: X86_CMDLINE_MAX - LAUNCHER_ROOM,
      what: "an image",
      hint: `Shorten --cmdline (the image's whole line may be ${X86_CMDLINE_MAX - LAUNCHER_ROOM} bytes); move settings for the program into --config.`,
      room: { bytes: LAUNCHER_ROOM, why: "kept for what the launchers add" },
    });
  // Checked before any work, and again with the platform's own part once it is known.
  checkCmdline([BASE_CMDLINE, opts.cmdline].filter(Boolean).join(" "));
  const platformOwn = opts.platformPrograms ?? [];
  // The firewall's nft is the first setup step: nothing runs, not even the platform's daemons, unfiltered.
  const own = [
    ...(opts.firewall
      ? [{ ...opts.firewall.program, mode: "setup" as const, args: ["-f", FIREWALL_PATH] }]
      : []),
    ...platformOwn,
  ];
  const firewallText = opts.firewall ? await readUserFile(opts.firewall.file, "firewall ruleset") : undefined;
  const inputs = [
    ...own,
    ...opts.programs.map((p) => (typeof p === "string" ? { src: p, dest: "" } : p)),
    ...(opts.tools ?? []),
  ];
  const firstTool = own.length + opts.programs.length;
  const epoch = opts.mtime ?? sourceDateEpoch(env);
  const [programs, added, configOverride] = await Promise.all([
    Promise.all(inputs.map((p) => (p.dest ? checkProgramWithClosure(p) : checkProgram(p.src)))),
    Promise.all((opts.add ?? []).map(readAdded)).then((l): AddedFile[] => [
      ...l.flat(),
      ...(opts.links ?? []).map((k) => ({
        src: k.target,
        dest: k.dest,
        mode: 0o777,
        symlink: k.target,
        mtime: 0,
      })),
    ]),
    opts.configFile ? loadConfigFile(opts.configFile) : Promise.resolve({} as Partial<BootConfig>),
  ]).then(([p, a, file]) => [p, a, { ...(opts.config ?? {}), ...file }] as const);
  const dests = programPaths(
    programs,
    inputs.map((i) => (i.dest ? i : ({} as ProgramInput))),
  );
  const closure = await readClosure(inputs);
  const who = imageAccounts(inputs, [...added, ...closure]);
  for (const f of who.files) closure.push({ src: "the packages' maintainer scripts", ...f, mtime: 0 });
  const mainInput = inputs[own.length];
  const runAs = mainInput?.user
    ? resolveUser(mainInput.user, who.accounts.users, who.accounts.groups)
    : undefined;

  const { resolvePlatform } = await import("../components/resolve.js");
  const platform = await resolvePlatform(opts.platform, {
    extraFiles: opts.catalogues,
    components: withFirewall(opts.components, opts.firewall !== undefined),
    env,
    kernel: kind,
  });
  if (platform.extras.programs.length !== platformOwn.length) {
    throw new KilnError(
      "KILN_EPLATFORM_PROGRAMS",
      `Platform ${q(opts.platform)} brings ${platform.extras.programs.length} programs of its own, and ${platformOwn.length} were resolved`,
      "Bake it with `kiln bake` or `kiln run`, which fetch the platform's programs from Debian.",
    );
  }
  const hypervisor = platform.extras.hypervisor
    ? await (await import("../components/hypervisor.js")).loadHypervisor(
        platform.extras.hypervisor,
        opts.platform,
        env,
      )
    : undefined;

  // Where the kernel comes from and what the manifest says of it, in the manifest's key order.
  let kernel: {
    src: string;
    release: string;
    package?: string;
    version?: string;
    sha256: string;
    size: number;
  };
  let modules = platform.modules;
  let acpi = true;
  if (kind === "specialized") {
    const { findSpecializedKernel, buildSpecializedKernel } = await import("../components/specialized.js");
    let k = await findSpecializedKernel({ symbols: platform.kconfig, env });
    if (!k) k = await buildSpecializedKernel({ symbols: platform.kconfig, env, progress });
    kernel = { src: k.bzImage, release: k.release, sha256: k.sha256, size: k.size };
    modules = [];
    acpi = false;
  } else {
    const k = platform.kernel;
    kernel = {
      src: k.vmlinuz,
      release: k.release,
      package: k.package,
      version: k.version,
      sha256: k.sha256,
      size: (await stat(k.vmlinuz)).size,
    };
  }
  // Both kinds are bzImages: small, and bootable by any loader; kiln's launchers start the ELF inside directly.
  const { src: kernelSrc, ...kernelFacts } = kernel;
  const kernelInfo: ImageManifest["kernel"] = {
    file: "kernel",
    format: "bzimage",
    kind,
    ...(kind === "stock" ? { flavour: platform.flavour } : {}),
    ...kernelFacts,
  };

  progress.step("preparing kiln-init");
  const { ensureToolchain } = await import("../toolchain/toolchain.js");
  const { ensureKilnInit } = await import("./kilnInit.js");
  const { paths } = await import("../core/paths.js");
  const tc = await ensureToolchain({ env });
  const init = await ensureKilnInit({
    cc: tc.cc,
    ccId: `${tc.backing.kind} ${tc.backing.path} ${tc.backing.version}`,
    cacheDir: join(paths.cache(env), "kiln-init"),
    progress,
  });
  progress.done();

  // The platform's programs first, in their order (setup steps, daemons), then the image's: the first of
  // those is main, the others run in the background.
  const rc: NonNullable<BootConfig["rc"]> = [];
  programs.forEach((_, i) => {
    const input = inputs[i]!;
    const mode = i < own.length ? (input.mode ?? "bg") : i === own.length ? "main" : "bg";
    if (mode === "none" || i >= firstTool) return;
    // The main program's one-shot steps (a database's initdb) run before it, as its user.
    if (mode === "main")
      for (const argv of input.setup ?? []) {
        if (!closure.some((f) => f.dest === argv[0]) && !dests.includes(argv[0]!))
          throw usageError(
            "KILN_ESETUP_PROGRAM",
            `The setup step ${q(argv.join(" "))} names ${q(argv[0])}, which is not in the image`,
            "Give the absolute path of a program the package ships (dpkg -L), or add it with --add.",
          );
        rc.push({
          bin: argv[0]!,
          argv: [basename(argv[0]!), ...argv.slice(1)],
          mode: "setup",
          ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        });
      }
    const main = mode === "main" ? platform.extras.main : undefined;
    rc.push({
      bin: dests[i]!,
      argv: [basename(dests[i]!), ...(main?.args ?? []), ...(input.args ?? [])],
      mode,
      ...(input.ready ? { ready: input.ready } : {}),
      ...(main?.argvXenDm ? { argv_xen_dm: true } : {}),
      ...(mode === "main" && runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
  });
  const programEnv = Object.assign({}, ...inputs.map((i) => i.env ?? {})) as Record<string, string>;
  const mounts = platform.extras.mounts;
  const config: BootConfig = {
    v: 1,
    ...(Object.keys(programEnv).length ? { env: programEnv } : {}),
    ...(rc.length ? { rc } : {}),
    ...(mounts.length ? { blk: mounts } : {}),
    ...configOverride,
  };
  if (mounts.length && configOverride.blk) config.blk = [...mounts, ...configOverride.blk];
  // A configuration's own rc replaces the programs' entries, but not the firewall: it still loads first.
  if (opts.firewall && configOverride.rc && !configOverride.rc.some((e) => e.bin === dests[0]))
    config.rc = [rc[0]!, ...configOverride.rc];
  checkConfig(config, "the image's boot configuration (the programs' and --config's together)");

  checkInitrdPaths([
    { path: "/init", from: "kiln-init", kiln: true },
    { path: "/kiln/image.json", from: "the boot configuration", kiln: true },
    { path: "/kiln/modules", from: "the module list", kiln: true },
    ...(firewallText ? [{ path: FIREWALL_PATH, from: "the firewall ruleset", kiln: true }] : []),
    ...programs.map((p, i) => ({ path: dests[i]!, from: `program ${q(p.path)}` })),
    ...modules.map((m) => ({ path: `/${m.relPath}`, from: `kernel module ${q(m.name)}` })),
    ...added.map((a) => ({ path: a.dest, from: `--add ${q(a.src)}` })),
    ...closure.map((f) => ({
      path: f.dest,
      from: f.package ? `${q(f.dest)} of Debian package ${q(f.package)}` : `file ${q(f.src)}`,
    })),
  ]);
  const entries: CpioEntry[] = [
    { path: "/init", mode: 0o755, data: await readFile(init.path) },
    { path: "/kiln/image.json", data: Buffer.from(`${JSON.stringify(config)}\n`) },
    {
      path: "/kiln/modules",
      data: Buffer.from(moduleList(platform.components, modules, platform.extras.moduleParams)),
    },
    ...(firewallText ? [{ path: FIREWALL_PATH, data: firewallText }] : []),
    ...programs.map((p, i) => ({ path: dests[i]!, mode: 0o755, data: p.data })),
    ...(await Promise.all(
      modules.map(async (m) => ({ path: `/${m.relPath}`, data: await readFile(m.path) })),
    )),
    ...[...added, ...closure].map((f) =>
      f.symlink !== undefined
        ? { path: f.dest, type: "symlink" as const, target: f.symlink }
        : { path: f.dest, mode: f.mode, data: f.data },
    ),
    { path: "/tmp", type: "dir" as const, mode: 0o1777 },
    { path: "/etc", type: "dir" as const },
    ...platform.extras.dirs.map((d) => ({ path: d, type: "dir" as const })),
    ...Object.entries(platform.extras.links).map(([path, target]) => ({
      path,
      type: "symlink" as const,
      target,
    })),
  ];
  // Files get the time of their newest input, not 1970: web servers derive Last-Modified and ETags from it.
  const mtime =
    epoch ??
    Math.max(
      0,
      ...added.map((a) => a.mtime),
      ...closure.map((f) => f.mtime),
      ...(await Promise.all(
        [
          ...programs.map((p) => p.path),
          ...(opts.configFile ? [opts.configFile] : []),
          ...(opts.firewall ? [opts.firewall.file] : []),
        ].map(async (f) => Math.floor((await stat(f)).mtimeMs / 1000)),
      )),
    );
  const initrd = cpioChunks(entries, mtime);
  const initrdSize = initrd.reduce((n, c) => n + c.length, 0);
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  for (const c of initrd) h.update(c);

  const cmdline = checkCmdline(
    [BASE_CMDLINE, platform.extras.cmdline, opts.cmdline].filter(Boolean).join(" "),
  );
  // The platform's floor, or a recipe's memory (a database's cluster lives in the root file system).
  const memory = Math.max(platform.extras.memory ?? 0, ...inputs.map((i) => i.memory ?? 0));
  const links = [...added, ...closure]
    .flatMap((f) => (f.symlink !== undefined ? [{ path: f.dest, target: f.symlink }] : []))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const manifest: ImageManifest = {
    v: 1,
    kiln: KILN_VERSION,
    name: opts.name ?? imageName(opts.platform, dests[own.length], platformOwn.length > 0),
    platform: opts.platform,
    kernel: kernelInfo,
    ...(hypervisor
      ? {
          hypervisor: {
            file: "hypervisor",
            name: hypervisor.name,
            format: "elf" as const,
            package: hypervisor.package,
            version: hypervisor.version,
            ...(hypervisor.source ? { source: hypervisor.source } : {}),
            sha256: hypervisor.sha256,
            size: hypervisor.size,
            cmdline: platform.extras.hypervisor!.cmdline,
          },
        }
      : {}),
    ...(firewallText
      ? {
          firewall: {
            path: FIREWALL_PATH,
            sha256: sha256(firewallText),
            size: firewallText.length,
            nft: dests[0]!,
          },
        }
      : {}),
    initrd: {
      file: "initrd",
      sha256: h.digest("hex"),
      size: initrdSize,
      entries: countEntries(entries),
      // Absent means 0, as in images from before the time was recorded (they verify as they were).
      ...(mtime ? { mtime } : {}),
    },
    ...(memory > 0 ? { memory } : {}),
    cmdline,
    acpi,
    holds: true,
    components: platform.components.map((c) => ({ name: c.name, how: c.how })),
    modules: modules.map((m) => ({ name: m.name, path: `/${m.relPath}`, sha256: m.sha256, size: m.size })),
    programs: programs.map((p, i) => ({
      path: dests[i]!,
      source: basename(p.path),
      sha256: p.sha256,
      size: p.data.length,
      ...(p.note ? { note: p.note } : {}),
    })),
    files: [...added, ...closure]
      .flatMap((a) => (a.data ? [{ path: a.dest, sha256: sha256(a.data), size: a.data.length }] : []))
      .sort((a, b) => (a.path < b.path ? -1 : 1)),
    ...(links.length ? { links } : {}),
    ...(who.recorded
      ? {
          accounts: {
            users: who.accounts.users.map((u) => ({ name: u.name, uid: u.uid, gid: u.gid, home: u.home })),
            groups: who.accounts.groups.map((g) => ({ name: g.name, gid: g.gid })),
          },
        }
      : {}),
    init: { path: "/init", sha256: init.sha256, size: init.size, version: init.version },
    config,
  };

  const { gatherSbomInputs } = await import("../compliance/sbomInputs.js");
  const kernelCopyright =
    kind === "stock" && kernelInfo.package
      ? await readFile(
          join(dirname(dirname(kernelSrc)), "usr", "share", "doc", kernelInfo.package, "copyright"),
          "utf8",
        ).catch(() => undefined)
      : undefined;
  const hypervisorCopyright = hypervisor?.copyright
    ? await readFile(hypervisor.copyright, "utf8").catch(() => undefined)
    : undefined;
  manifest.sbom = await gatherSbomInputs(manifest, {
    env,
    ...(kernelCopyright ? { kernelCopyright } : {}),
    ...(hypervisorCopyright ? { hypervisorCopyright } : {}),
  });
  await addDebianFacts(manifest, inputs, closure);
  manifest.provenance = {
    v: 1,
    kiln: KILN_VERSION,
    toolchain: { cc: `${tc.backing.kind} ${tc.backing.version}`, libc: tc.libc },
    // The bake as a command, with programs and files by name only: host paths stay out of images.
    command: [
      "bake",
      opts.platform,
      "OUT",
      ...programs.map((p) => basename(p.path)),
      "--kernel",
      kind,
      ...(opts.components ?? []).flatMap((c) => ["--component", c]),
      ...(opts.cmdline ? ["--cmdline", opts.cmdline] : []),
      ...(opts.firewall ? ["--firewall=…"] : []),
      ...manifest.files.map((f) => `--add=…:${f.path}`),
      ...added.flatMap((a) => (a.symlink !== undefined ? [`--add=…:${a.dest}`] : [])),
    ],
    inputs: {
      kernel: {
        kind,
        ...(kernelInfo.package ? { package: kernelInfo.package, version: kernelInfo.version } : {}),
        sha256: kernelInfo.sha256,
      },
      ...(hypervisor
        ? {
            hypervisor: {
              package: hypervisor.package,
              version: hypervisor.version,
              sha256: hypervisor.sha256,
            },
          }
        : {}),
      kilnInit: { version: init.version, sha256: init.sha256 },
      programs: manifest.programs.map((p) => p.sha256),
      files: manifest.files.map((f) => f.sha256),
      components: manifest.components.map((c) => c.name),
    },
  };
  const policy = opts.policyFile
    ? await (await import("../compliance/policy.js")).loadPolicy({ file: opts.policyFile })
    : undefined;

  progress.step(`writing image ${out}`);
  const parts = [
    { file: "kernel", sha256: kernelInfo.sha256, from: kernelSrc },
    ...(hypervisor ? [{ file: "hypervisor", sha256: hypervisor.sha256, from: hypervisor.path }] : []),
    { file: "initrd", sha256: manifest.initrd.sha256, from: initrd },
  ];
  const placed = new Map<string, bigint>();
  await writeImageDir(out, output, async (dir) => {
    const manifestFile = join(dir, "manifest.json");
    const { placeImagePart } = await import("./imagePart.js");
    for (const p of parts) {
      await placeImagePart(
        join(dir, p.file),
        { sha256: p.sha256, previous: join(out, p.file), from: p.from },
        env,
      );
      placed.set(p.file, (await stat(join(dir, p.file), { bigint: true })).ino);
    }
    await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    if (policy) {
      // Checked on the written image, before it moves into place: a violation leaves nothing at OUT.
      const { checkImagePolicy } = await import("../compliance/imagePolicy.js");
      const { readImage } = await import("../manifest/imageManifest.js");
      const override = await checkImagePolicy(await readImage(dir), policy, {
        env,
        allowViolations: opts.allowLicenseViolations ?? false,
      });
      if (override) {
        manifest.licensePolicy = override;
        await writeFile(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
      }
    }
  });
  // The launch that usually follows checks the parts against the manifest: it need not read them back.
  // Recorded once they are in place, since taking the old image away changes their ctime (a link fewer).
  const { rememberDigests } = await import("../core/digestCache.js");
  await rememberDigests(
    parts.map((p) => ({ path: join(out, p.file), sha256: p.sha256, ino: placed.get(p.file) ?? -1n })),
    { env },
  );
  progress.done();
  return {
    out,
    manifest,
    sizes: { kernel: kernelInfo.size, initrd: initrdSize, total: kernelInfo.size + initrdSize },
  };
}

/** The platform's components (and --component's), with the netfilter ones when a ruleset is baked. */
function withFirewall(components: string[] | undefined, firewall: boolean): string[] | undefined {
  if (!firewall) return components;
  return [...(components ?? []), ...FIREWALL_COMPONENTS.filter((c) => !components?.includes(c))];
}

/** The main program's name; without one, the platform's (with its own programs) or a kernel plane's. */
function imageName(platform: string, main: string | undefined, ownPrograms: boolean): string {
  if (main) return basename(main);
  return ownPrograms ? platform : `${platform}-plane`;
}

function countEntries(entries: CpioEntry[]): number {
  const all = new Set<string>();
  for (const e of entries) {
    const parts = e.path.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join("/"));
  }
  return all.size;
}

interface ClosureFile {
  src: string;
  dest: string;
  mode: number;
  data?: Buffer;
  symlink?: string;
  package?: string;
  mtime: number;
}

async function readClosure(inputs: ProgramInput[]): Promise<ClosureFile[]> {
  const byDest = new Map<string, ClosureFile>();
  // One package's data may hold another program of the same bake (xl's brings xen-init-dom0): the program
  // is there already, from the same package.
  const programs = new Set(inputs.filter((i) => i.dest && i.packages?.length).map((i) => i.dest));
  for (const i of inputs) {
    for (const f of i.files ?? []) {
      if (byDest.has(f.dest)) continue; // two programs from one package set share their libraries
      if (f.package && programs.has(f.dest)) continue;
      const st = await (f.symlink !== undefined ? lstat(f.src) : stat(f.src)).catch(() => undefined);
      const common = {
        src: f.src,
        dest: f.dest,
        mtime: Math.floor((st?.mtimeMs ?? 0) / 1000),
        ...(f.package ? { package: f.package } : {}),
      };
      byDest.set(
        f.dest,
        f.symlink !== undefined
          ? { ...common, mode: 0o777, symlink: f.symlink }
          : { ...common, mode: f.mode ?? 0o644, data: await readFile(f.src) },
      );
    }
  }
  return [...byDest.values()];
}

/** The Debian packages behind prepared programs go into the SBOM inputs, with each file's package. */
async function addDebianFacts(
  manifest: ImageManifest,
  inputs: ProgramInput[],
  closure: ClosureFile[],
): Promise<void> {
  const sbom = manifest.sbom;
  if (!sbom?.debian) return;
  const files: NonNullable<typeof sbom.files> = { ...(sbom.files ?? {}) };
  for (const input of inputs) {
    for (const p of input.packages ?? []) {
      const copyright = p.copyrightFile
        ? await readFile(p.copyrightFile, "utf8").catch(() => undefined)
        : undefined;
      sbom.debian.packages[p.name] = {
        version: p.version,
        ...(p.source && p.source !== p.name ? { source: p.source } : {}),
        ...(p.sourceVersion && p.sourceVersion !== p.version ? { sourceVersion: p.sourceVersion } : {}),
        ...(copyright ? { copyright } : {}),
      };
    }
    const owner = input.files?.find((f) => f.src === input.src)?.package ?? input.packages?.[0]?.name;
    if (owner && input.dest) files[input.dest] = { debPackage: owner };
  }
  for (const f of closure) if (f.package) files[f.dest] = { debPackage: f.package };
  if (Object.keys(files).length)
    sbom.files = Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Which device classes a component's modules serve. kiln-init loads a module only when the launcher says
 * (kiln.dev=...) that a device of one of its classes is attached: a hello with no NIC and no disk loads none.
 * Components not listed here (firewalling, file systems needed at any time) always load.
 */
const DEVICE_CLASS: Record<string, string> = {
  "virtio.net": "net",
  "xen.netfront": "net",
  ena: "net",
  e1000: "net",
  e1000e: "net",
  igb: "net",
  "virtio.blk": "blk",
  "xen.blkfront": "blk",
  nvme: "blk",
  ahci: "blk",
  "usb.storage": "blk",
  "fs.vfat": "blk",
  "fs.iso9660": "blk",
  "virtio.pci": "net,blk,dev",
  "virtio.mmio": "net,blk,dev",
  "virtio.console": "dev",
  "virtio.rng": "dev",
};

/** /kiln/modules: one module a line in load order, followed by the device classes it serves (if limited). */
export function moduleList(
  components: { name: string; modules: string[] }[],
  modules: { name: string; relPath: string; deps?: string[] }[],
  params: Record<string, string> = {},
): string {
  const deps = new Map(modules.map((m) => [m.name, m.deps ?? []]));
  const classes = new Map<string, Set<string> | "always">();
  for (const c of components) {
    const cls = DEVICE_CLASS[c.name];
    for (const direct of c.modules) {
      for (const m of [direct, ...(deps.get(direct) ?? [])]) {
        const prev = classes.get(m);
        if (prev === "always") continue;
        if (!cls) classes.set(m, "always");
        else classes.set(m, new Set([...(prev ?? []), ...cls.split(",")]));
      }
    }
  }
  return modules
    .map((m) => {
      const c = classes.get(m.name);
      const cls = c && c !== "always" ? [...c].sort().join(",") : undefined;
      const p = params[m.name];
      if (p) return `/${m.relPath} ${cls ?? "*"} ${p}\n`;
      return cls ? `/${m.relPath} ${cls}\n` : `/${m.relPath}\n`;
    })
    .join("");
}
