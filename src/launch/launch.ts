/**
 * Launch a machine: plan it with its backend's driver, then run the plan. Attached machines stream their
 * console to `onConsole` (and to console.log in the machine directory) and resolve with the program's exit
 * status; detached ones resolve once the hypervisor runs on its own. A dry run plans only.
 */
import { spawn } from "node:child_process";
import { constants, createWriteStream } from "node:fs";
import { access, copyFile, open, readFile, stat, writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { KilnError, q, usageError } from "../core/errors.js";
import { fsError, missingOr } from "../core/fsError.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { spawnChild } from "../core/spawnChild.js";
import { readUserFile } from "../core/userFile.js";
import type { BootConfig } from "../manifest/bootConfig.js";
import { type Image, type ImageManifest, openImage } from "../manifest/imageManifest.js";
import { checkKernelCmdline, X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";
import { type Accel, chooseAccel } from "./accel.js";
import { composeCmdline } from "./cmdline.js";
import { firewallSegment, placeConfig } from "./configPlacement.js";
import { ConsoleWatch } from "./consoleWatch.js";
import { directKernel } from "./directKernel.js";
import { chooseDriver, driverFor } from "./drivers/index.js";
import { qemuBinary } from "./drivers/qemu.js";
import {
  checkKernelFits,
  type ImageMemory,
  imageMemory,
  outOfMemoryError,
  outOfMemoryLine,
} from "./imageMemory.js";
import type {
  Driver,
  LaunchableMedium,
  LaunchPlan,
  MachineSpec,
  MachineStatus,
  NetSpec,
  PlanContext,
  StartedContext,
} from "./machine.js";
import { machineNets } from "./machine.js";
import { checkPortsFree, type PortUse } from "./ports.js";
import { runtimeConfig } from "./runtimeConfig.js";
import {
  claimMachine,
  controlSocketPath,
  FILES,
  generateName,
  MACHINE_ENV,
  machineDir,
  removeMachineDir,
  writeStatus,
} from "./state.js";
import type { ConsoleLineAt, TimelineEvents } from "./timeline.js";

export interface LaunchOptions {
  /** qemu, xen or firecracker; the first available when absent. */
  backend?: string;
  progress?: Progress;
  /** Console output of an attached machine, as it arrives. */
  onConsole?: (chunk: Buffer) => void;
  /** Aborting stops an attached machine (kill, wait) and resolves with status 130. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** Have kiln-init print its timings and record when each console line arrived (an attached machine). */
  timeline?: boolean;
}

export interface LaunchResult {
  name: string;
  backend: string;
  /** The program's exit status (attached); 0 once a detached machine runs. */
  status: number;
  machine: MachineStatus;
  interrupted: boolean;
  warnings: string[];
  /** With the timeline option: when QEMU started and when each console line arrived. */
  events?: TimelineEvents;
  /** "restored" from a saved boot state, or "saved" (this launch made it); absent: a cold boot. */
  bootState?: "saved" | "restored";
}

export interface DryRunResult {
  name: string;
  backend: string;
  command: string[];
  files: { path: string; content: string }[];
  /** The kernel command line; absent for a launchable, which boots the one baked into it. */
  cmdline?: string;
  configVia: "none" | "cmdline" | "initrd" | "xenstore" | "fw_cfg";
  /** "restored" from a saved boot state, or "saved" by this launch (its shape's first); absent: a cold boot. */
  bootState?: "saved" | "restored";
  /** The boot configuration delta the guest gets over the baked one. */
  config?: unknown;
  accel?: Accel;
  warnings: string[];
}

interface Prepared {
  driver: Driver;
  spec: MachineSpec & { name: string };
  dir: string;
  /** What the machine boots, as its status records it: the image directory or the launchable file. */
  source: string;
  plan: LaunchPlan;
  accel?: Accel;
  /** The kernel command line (images; a launchable carries its own). */
  cmdline?: string;
  /** The baked initrd plus a configuration segment, written to `out` before the machine starts. */
  segment?: { baked: string; out: string; data: Buffer };
  warnings: string[];
  configVia: DryRunResult["configVia"];
  bootState?: DryRunResult["bootState"];
  /** The saved boot state QEMU restores, when it does. */
  statePath?: string;
  config?: BootConfig;
  /** What the image needs (src/launch/imageMemory.ts), for the error of a boot that ran out. */
  memory?: ImageMemory;
}

/** Disks and shares must exist: checked before anything is built or started. */
export async function checkHostFiles(spec: MachineSpec): Promise<void> {
  for (const d of spec.disks) {
    const notFound = (why: string) =>
      usageError(
        "KILN_EDISK_NOT_FOUND",
        `Cannot attach disk ${q(d.file)}: ${why}`,
        "Give the path of a raw disk image (make one with: truncate -s 64M disk.img && mkfs.ext4 disk.img).",
      );
    const st = await stat(d.file).catch((e: unknown) => {
      throw missingOr(e, d.file, "attach disk", () => notFound("no such file"));
    });
    if (!(st.isFile() || st.isBlockDevice())) throw notFound("not a file or block device");
    // The hypervisor opens it later, after the machine's state is made: a disk it may not use fails here.
    await access(d.file, d.ro ? constants.R_OK : constants.R_OK | constants.W_OK).catch((e: unknown) => {
      throw fsError(e, d.file, "attach disk");
    });
  }
  for (const s of spec.shares) {
    const st = await stat(s.host).catch(() => undefined);
    if (!st?.isDirectory()) {
      throw usageError(
        "KILN_ESHARE_NOT_FOUND",
        `Cannot share ${q(s.host)}: not a directory`,
        "Give an existing host directory: --share ./data:/data.",
      );
    }
  }
}

/**
 * What the image asks of the machine where the user left it to kiln: the memory its kernel and initrd need
 * (imageMemory.ts), at least what its platform says, and for an image that boots under its own hypervisor
 * the pc machine (microvm cannot multiboot).
 */
function withImageDefaults(spec: MachineSpec, m: ImageManifest, needs?: ImageMemory): MachineSpec {
  const d = spec.defaulted ?? {};
  const memoryMB = Math.max(needs?.defaultMiB ?? spec.memoryMB, m.memory ?? 0);
  return {
    ...spec,
    ...(d.memory ? { memoryMB } : {}),
    ...(d.machine && m.hypervisor && spec.machine === "microvm" ? { machine: "pc" as const } : {}),
  };
}

/**
 * The host's side of a tap or bridge network must be there before the hypervisor starts: QEMU would make a
 * new tap that leads nowhere, and the guest would wait half a minute for a DHCP answer that cannot come.
 */
async function checkHostNet(spec: MachineSpec): Promise<void> {
  for (const net of machineNets(spec)) {
    if (net.kind === "tap" || net.kind === "bridge") await checkHostIf(net);
  }
}

async function checkHostIf(net: Extract<NetSpec, { kind: "tap" | "bridge" }>): Promise<void> {
  const name = net.kind === "tap" ? net.ifname : net.bridge;
  const has = (p: string) =>
    stat(join("/sys/class/net", name, p)).then(
      () => true,
      () => false,
    );
  const make =
    net.kind === "tap"
      ? `ip tuntap add dev ${name} mode tap && ip link set ${name} up`
      : `ip link add ${name} type bridge && ip link set ${name} up`;
  if (!(await has(""))) {
    throw usageError(
      "KILN_ENET_MISSING",
      `Cannot attach the machine to ${net.kind} ${q(name)}: this host has no network interface of that name`,
      `Create it first (${make}), or use --net user.`,
    );
  }
  // A tap has tun_flags, a bridge a bridge/ directory (sysfs, Documentation/ABI/testing/sysfs-class-net).
  if (!(await has(net.kind === "tap" ? "tun_flags" : "bridge"))) {
    throw usageError(
      "KILN_ENET_MISSING",
      `Cannot attach the machine to ${net.kind} ${q(name)}: that interface is not a ${net.kind === "tap" ? "tap device" : "bridge"}`,
      `Name a ${net.kind === "tap" ? "tap device" : "bridge"} (\`ip -d link show\` tells which are), or use --net user.`,
    );
  }
}

/** KVM or TCG for QEMU, reporting the one-off KVM check as a progress step. */
async function pickAccel(
  spec: MachineSpec,
  kernel: Parameters<typeof chooseAccel>[2],
  opts: LaunchOptions,
): Promise<Accel> {
  const progress = opts.progress ?? silentProgress;
  let probed = false;
  const choice = await chooseAccel(spec.accel, qemuBinary(opts.env), kernel, () => {
    probed = true;
    progress.step("checking whether KVM boots Linux on this host (once per host boot)");
  });
  if (probed) progress.done(`${choice.why}: using ${choice.accel}`);
  return choice.accel;
}

/**
 * QEMU's accelerator, also for a libvirt domain on this host (its type: kvm or qemu); a remote host's domain
 * is emulated unless --accel kvm says that host has KVM.
 */
async function backendAccel(
  driver: Driver,
  spec: MachineSpec,
  kernel: string,
  opts: LaunchOptions,
): Promise<Accel | undefined> {
  if (driver.name === "qemu") return pickAccel(spec, kernel, opts);
  if (driver.name !== "libvirt") return undefined;
  const { isLocalUri, DEFAULT_LIBVIRT_URI } = await import("./virsh.js");
  if (isLocalUri(spec.connect ?? DEFAULT_LIBVIRT_URI)) return pickAccel(spec, kernel, opts);
  return spec.accel === "kvm" ? "kvm" : "tcg";
}

/**
 * The saved boot state this launch restores (src/launch/bootState.ts), made now on the first launch of its
 * shape; nothing for a machine that boots cold, with a warning when saving one failed.
 */
async function savedState(
  driver: Driver,
  spec: MachineSpec & { name: string },
  image: Image,
  accel: Accel | undefined,
  base: string,
  config: BootConfig | undefined,
  opts: LaunchOptions,
  dryRun: boolean,
): Promise<{ use?: import("./bootState.js").BootStateUse; why?: string }> {
  const { coldReason, bootState, HOLD } = await import("./bootState.js");
  const why = coldReason(spec, image, { backend: driver.name, ...(opts.timeline ? { timeline: true } : {}) });
  if (why || !accel || Buffer.byteLength(`${base} ${HOLD}`) > X86_CMDLINE_MAX) return {};
  const progress = opts.progress ?? silentProgress;
  let saving = false;
  const r = await bootState(
    { spec, image, accel, base, ...(config ? { config } : {}), ...(opts.env ? { env: opts.env } : {}) },
    {
      save: !dryRun,
      ...(opts.onConsole ? { onConsole: opts.onConsole } : {}),
      onSaving: () => {
        saving = true;
        progress.step(`saving a boot state of ${image.manifest.name} for this machine shape (once)`);
      },
    },
  );
  if (saving) r.use ? progress.done("boot state saved") : progress.fail("boot state not saved: booting cold");
  return r.why ? { why: `Booting cold: no boot state could be saved: ${r.why}` } : r;
}

async function prepare(
  driver: Driver,
  spec: MachineSpec,
  opts: LaunchOptions,
  dryRun: boolean,
): Promise<Prepared> {
  // Before anything starts: a saved boot state's template (below) listens on the same ports.
  if (!dryRun) await checkPortsFree(portUses(spec));
  if (spec.launchable)
    return prepareLaunchable(driver, { ...spec, launchable: spec.launchable }, opts, dryRun);
  const baked = await openImage(resolve(spec.image), opts.env ? { env: opts.env } : {});
  const direct = await directKernel(baked, opts.env);
  const image = direct ? { ...baked, direct } : baked;
  const memory = await imageMemory(baked.kernel, baked.manifest.initrd.size);
  spec = withImageDefaults(spec, image.manifest, memory);
  spec = driver.adjust?.(spec) ?? spec;
  if (!spec.defaulted?.memory) checkKernelFits(spec.memoryMB, memory);
  await checkHostFiles(spec);
  // libvirt attaches its domains on the host it manages, which may be another: it checks for itself.
  if (!dryRun && driver.name !== "libvirt") await checkHostNet(spec);
  const warnings = driver.check(spec, image, dryRun);
  const name = spec.name ?? generateName(image.manifest.name);
  const dir = machineDir(name, opts.env);
  const accel = await backendAccel(driver, spec, image.kernel, opts);
  const parts = driver.cmdlineFor(spec, image, accel);
  const base = composeCmdline(
    image.manifest.cmdline,
    opts.timeline ? { ...parts, override: [...parts.override, "kiln.debug=1"] } : parts,
  );
  const reserve = driver.cmdlineReserve?.(spec, image) ?? 0;
  checkKernelCmdline(base, {
    max: X86_CMDLINE_MAX - reserve,
    what: `image ${q(image.manifest.name)} with ${driver.name}'s parameters`,
    hint: "Bake the image again with a shorter --cmdline; settings for the program belong in --config.",
    ...(reserve ? { room: { bytes: reserve, why: `kept for the devices ${driver.name} announces` } } : {}),
  });
  const cfg = runtimeConfig(spec, image.manifest, (i) => driver.diskDevice(i));
  const saved = await savedState(driver, { ...spec, name }, image, accel, base, cfg, opts, dryRun);
  const placed:
    | ReturnType<typeof placeConfig>
    | { via: "xenstore" | "fw_cfg" | "none"; cmdline: string[]; segment?: undefined } = saved.use
    ? { via: cfg ? "fw_cfg" : "none", cmdline: [] }
    : driver.configVia === "xenstore"
      ? { via: cfg ? "xenstore" : "none", cmdline: [] }
      : placeConfig(base, cfg, { reserve });
  const firewall = spec.firewall ? await launchFirewall(spec.firewall, driver, image) : undefined;
  const segment =
    placed.segment || firewall
      ? Buffer.concat([placed.segment ?? Buffer.alloc(0), firewall ?? Buffer.alloc(0)])
      : undefined;
  const cmdline = saved.use ? saved.use.cmdline : [base, ...placed.cmdline].join(" ");
  const ctx: PlanContext = {
    spec: { ...spec, name },
    image,
    dir,
    cmdline,
    initrd: segment ? join(dir, FILES.initrd) : image.initrd,
    ...(accel ? { accel } : {}),
    ...(spec.console === "detached" && driver.name === "qemu"
      ? { consoleFile: join(dir, FILES.console) }
      : {}),
    control: controlSocketPath(dir),
    dryRun,
  };
  const planned = await driver.plan(ctx);
  const plan = saved.use ? { ...planned, command: [...planned.command, ...saved.use.args] } : planned;
  return {
    driver,
    spec: ctx.spec,
    dir,
    source: image.dir,
    plan,
    ...(accel ? { accel } : {}),
    cmdline,
    ...(segment ? { segment: { baked: image.initrd, out: ctx.initrd, data: segment } } : {}),
    warnings: [...warnings, ...plan.warnings, ...(saved.why ? [saved.why] : [])],
    configVia: placed.via,
    ...(saved.use ? { bootState: saved.use.saved ? "saved" : "restored", statePath: saved.use.state } : {}),
    ...(cfg ? { config: cfg } : {}),
    ...(memory ? { memory } : {}),
  };
}

/** --firewall FILE at launch: only where the image has nft to load it, and an initrd to carry it (QEMU). */
async function launchFirewall(file: string, driver: Driver, image: Image): Promise<Buffer> {
  const baked = image.manifest.firewall;
  if (driver.name !== "qemu") {
    throw usageError(
      "KILN_EFIREWALL_UNSUPPORTED",
      `Cannot give ${driver.name} machines a firewall ruleset at launch (${q(file)})`,
      "Bake it into the image instead: kiln bake ... --firewall FILE.",
    );
  }
  if (!baked) {
    throw usageError(
      "KILN_EFIREWALL_NO_NFT",
      `Cannot load firewall ruleset ${q(file)} in image ${q(image.manifest.name)}: it was baked without a firewall, so it has no nft to load one`,
      "Bake the image with --firewall (any ruleset: the one given at launch replaces it).",
    );
  }
  return firewallSegment(await readUserFile(file, "firewall ruleset"), baked.path);
}

/**
 * Refuse what a firmware-booted launchable cannot get: its kernel command line is inside the medium, so no
 * run-time configuration (environment, arguments, network addresses, mounts) reaches kiln-init.
 */
function checkLaunchable(driver: Driver, spec: MachineSpec): void {
  if (!driver.planLaunchable) {
    throw usageError(
      "KILN_ELAUNCHABLE_BACKEND",
      `Cannot boot launchable ${q(spec.image)} with ${driver.name}: only QEMU boots a disk or ISO through its firmware`,
      `Use \`kiln launch qemu ${spec.image}\`, or launch the image directory it was made from with ${driver.name}.`,
    );
  }
  const refuse = (what: string) =>
    usageError(
      "KILN_ELAUNCHABLE_CONFIG",
      `Cannot pass ${what} to launchable ${q(spec.image)}: its firmware boots the kernel command line baked into it, so kiln has no way to hand the guest a run-time configuration`,
      "Bake the setting into the image (kiln bake --config FILE, or arguments after the program) and make the launchable again with kiln image, or launch the image directory instead: kiln launch qemu IMAGE-DIR ...",
    );
  const env = Object.keys(spec.env);
  if (env.length > 0) throw refuse(`environment ${q(env.map((k) => `${k}=${spec.env[k]}`).join(" "))} (-e)`);
  if (spec.args !== undefined) throw refuse(`program arguments ${q(spec.args.join(" "))}`);
  const mounted = spec.disks.find((d) => d.mount !== undefined);
  if (mounted) throw refuse(`a mount point for disk ${q(mounted.file)} (-b FILE,${mounted.mount})`);
  if (spec.shares.length > 0) throw refuse(`a shared directory ${q(spec.shares[0]!.host)} (--share)`);
  if (spec.firewall) throw refuse(`a firewall ruleset ${q(spec.firewall)} (--firewall)`);
  for (const net of machineNets(spec)) {
    if (net.kind !== "user" && net.kind !== "none" && (net.addr || net.gw || net.mtu)) {
      throw refuse(`a network setting ${q(net.addr ?? net.gw ?? `mtu=${net.mtu}`)} (--net ...,ip=,gw=,mtu=)`);
    }
  }
}

/** The Linux kernel kiln uses (the stock one in the store), for the KVM check a launchable cannot offer. */
async function storeKernel(env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { loadStockKernel } = await import("../components/stockKernel.js");
    const k = await loadStockKernel(env);
    return join(k.root, k.index.vmlinuz.path);
  } catch {
    return undefined;
  }
}

async function prepareLaunchable(
  driver: Driver,
  spec: MachineSpec & { launchable: LaunchableMedium },
  opts: LaunchOptions,
  dryRun: boolean,
): Promise<Prepared> {
  checkLaunchable(driver, spec);
  const planLaunchable = driver.planLaunchable!.bind(driver);
  await checkHostFiles(spec);
  if (!dryRun) await checkHostNet(spec);
  const name = spec.name ?? generateName(basename(spec.image).replace(/\.[^.]*$/, "") || "launchable");
  const dir = machineDir(name, opts.env);
  const accel = await pickAccel(spec, () => storeKernel(opts.env), opts);
  const plan = await planLaunchable({
    spec: { ...spec, name },
    dir,
    accel,
    ...(spec.console === "detached" ? { consoleFile: join(dir, FILES.console) } : {}),
    control: controlSocketPath(dir),
    dryRun,
  });
  return {
    driver,
    spec: { ...spec, name },
    dir,
    source: spec.image,
    plan,
    accel,
    warnings: plan.warnings,
    configVia: "none",
  };
}

function resolveDriver(opts: LaunchOptions): Promise<Driver> | Driver {
  return opts.backend ? driverFor(opts.backend) : chooseDriver();
}

export async function dryRun(spec: MachineSpec, opts: LaunchOptions = {}): Promise<DryRunResult> {
  const p = await prepare(await resolveDriver(opts), spec, opts, true);
  const files = p.plan.files.map((f) => ({ path: join(p.dir, f.name), content: f.content }));
  if (p.segment) {
    files.push({
      path: p.segment.out,
      content: `(the image's initrd followed by a ${p.segment.data.length}-byte cpio segment with /kiln/config.json)`,
    });
  }
  return {
    name: p.spec.name,
    backend: p.driver.name,
    command: p.plan.command,
    files,
    ...(p.cmdline !== undefined ? { cmdline: p.cmdline } : {}),
    configVia: p.configVia,
    ...(p.bootState ? { bootState: p.bootState } : {}),
    ...(p.config ? { config: p.config } : {}),
    ...(p.accel ? { accel: p.accel } : {}),
    warnings: p.warnings,
  };
}

function portUses(spec: MachineSpec): PortUse[] {
  const uses: PortUse[] = [];
  for (const net of machineNets(spec)) {
    if (net.kind !== "user") continue;
    for (const f of net.forwards) {
      uses.push({
        proto: f.proto,
        port: f.host,
        ...(f.hostAddr ? { addr: f.hostAddr } : {}),
        what: `forwarding to guest port ${f.guest}`,
      });
    }
  }
  if (spec.gdbPort !== undefined)
    uses.push({ proto: "tcp", port: spec.gdbPort, addr: "127.0.0.1", what: "the gdb stub" });
  return uses;
}

function portsOf(spec: MachineSpec): string[] | undefined {
  const net = machineNets(spec).find((n) => n.kind === "user");
  if (net?.kind !== "user" || net.forwards.length === 0) return undefined;
  return net.forwards.map((f) => `${f.hostAddr ?? "127.0.0.1"}:${f.host}->${f.guest}/${f.proto}`);
}

/** Turn a hypervisor's start-up complaint into a KilnError a user can act on. */
function startFailure(backend: string, stderr: string, code: number | null): KilnError {
  const tail = stderr.trim().split("\n").slice(-6).join("\n");
  const fwd = /Could not set up host forwarding rule '([^']*)'/.exec(stderr);
  if (fwd) {
    return new KilnError(
      "KILN_EPORT_IN_USE",
      `Cannot forward ${q(fwd[1])}: the host port was taken as the machine started`,
      "Choose another host port (-p HOST:GUEST).",
    );
  }
  return new KilnError(
    "KILN_EHYPERVISOR_FAILED",
    `${backend} failed to start the machine (status ${code ?? "?"})${tail ? `:\n${tail}` : ""}`,
    "Read the message above; run the command from --dry-run by hand to reproduce.",
  );
}

export async function launch(spec: MachineSpec, opts: LaunchOptions = {}): Promise<LaunchResult> {
  const driver = await resolveDriver(opts);
  if (spec.launchable) checkLaunchable(driver, spec);
  const probe = await driver.probe();
  if (!probe.available) {
    throw new KilnError(
      "KILN_EBACKEND_UNAVAILABLE",
      probe.reason ?? `${driver.name} is not available here`,
      probe.hint ?? "Install it, or use --dry-run to see what would run.",
    );
  }
  const p = await prepare(driver, spec, opts, false);
  const name = p.spec.name;
  const dir = await claimMachine(name, opts.env);
  const logFile = join(dir, FILES.console);
  const status: MachineStatus = {
    name,
    backend: p.driver.name,
    state: "created",
    image: p.source,
    logFile,
    ...(portsOf(spec) ? { ports: portsOf(spec) } : {}),
    ...(p.plan.control ? { control: p.plan.control } : {}),
  };
  let started = false;
  try {
    await writeStatus(dir, status);
    await writeFile(join(dir, FILES.spec), `${JSON.stringify({ ...spec, name }, null, 2)}\n`);
    for (const f of p.plan.files) await writeFile(join(dir, f.name), f.content);
    if (p.segment) await writeInitrd(p.segment.baked, p.segment.out, p.segment.data);
    if (p.driver.create) {
      const created = await p.driver.create(hookContext(p, () => true));
      p.plan = { ...p.plan, command: created.command };
    }
    if (p.plan.daemonizes) {
      const result = await startDaemon(p, status);
      started = true;
      return result;
    }
    if (p.plan.detachSelf && p.spec.console === "detached") {
      const result = await startDetached(p, status);
      started = true;
      return result;
    }
    started = true;
    return await runAttached(p, status, opts);
  } finally {
    if (!started) await removeMachineDir(dir, status).catch(() => {});
  }
}

/** The baked initrd, padded to 4 bytes, then the configuration segment: the baked image stays untouched. */
async function writeInitrd(baked: string, out: string, segment: Buffer): Promise<void> {
  await copyFile(baked, out);
  const size = (await stat(out)).size;
  const fh = await open(out, "a");
  try {
    await fh.write(Buffer.concat([Buffer.alloc((4 - (size % 4)) % 4), segment]));
  } finally {
    await fh.close();
  }
}

async function startDaemon(p: Prepared, status: MachineStatus): Promise<LaunchResult> {
  const [cmd, ...args] = p.plan.command as [string, ...string[]];
  const dir = p.dir;
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((res, rej) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (b: string) => {
      if (err.length < 65536) err += b;
    });
    child.on("error", rej);
    child.on("close", (c) => res({ code: c, stderr: err }));
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") {
      throw new KilnError("KILN_EBACKEND_UNAVAILABLE", `Cannot run ${q(cmd)}: not found`, "Install it.");
    }
    throw e;
  });
  if (code !== 0) {
    await removeMachineDir(dir, status).catch(() => {});
    throw startFailure(p.driver.name, stderr, code);
  }
  const pid = Number((await readFile(p.plan.pidFile ?? join(dir, FILES.pid), "utf8")).trim());
  const running: MachineStatus = { ...status, state: "running", pid, started: new Date().toISOString() };
  await writeStatus(dir, running);
  return {
    name: status.name,
    backend: p.driver.name,
    status: 0,
    machine: running,
    interrupted: false,
    warnings: p.warnings,
    ...(p.bootState ? { bootState: p.bootState } : {}),
  };
}

function hookContext(p: Prepared, running: () => boolean): StartedContext {
  return { name: p.spec.name, dir: p.dir, ...(p.config ? { config: p.config } : {}), running };
}

/**
 * The pipe a `readyFd` command signals on (its fd 3): resolves at the first byte, rejects when the command
 * ends or closes it without one.
 */
function readySignal(child: ReturnType<typeof spawn>, what: string): Promise<void> {
  const pipe = child.stdio[3] as import("node:stream").Readable | null | undefined;
  if (!pipe) return Promise.resolve();
  return new Promise<void>((res, rej) => {
    const fail = () =>
      rej(
        new KilnError(
          "KILN_EHYPERVISOR_FAILED",
          `${what} ended before it followed the machine's console`,
          "Read the message above; the backend's own log may say more.",
        ),
      );
    pipe.once("data", () => {
      res();
      pipe.destroy();
    });
    pipe.once("end", fail);
    pipe.once("error", fail);
  });
}

/** The driver's `started` hook, if any; a failure takes the machine down with it. */
async function afterStart(
  p: Prepared,
  child: ReturnType<typeof spawn>,
  running: () => boolean,
  kill: () => void,
): Promise<void> {
  const ready = p.plan.readyFd ? readySignal(child, p.plan.command[0] ?? "the backend") : Promise.resolve();
  ready.catch(() => {}); // a hook that never waits on it must not leave a rejection unhandled
  if (!p.driver.started) return;
  try {
    await p.driver.started({ ...hookContext(p, running), ready });
  } catch (e) {
    kill();
    throw e;
  }
}

/** The environment of a machine's command: kiln's own, marked with the machine (state.ts isOurProcess). */
function machineEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, [MACHINE_ENV]: dir };
}

/** A detached machine whose command stays in the foreground: its own session, output to the console log. */
async function startDetached(p: Prepared, status: MachineStatus): Promise<LaunchResult> {
  const [cmd, ...args] = p.plan.command as [string, ...string[]];
  const out = await open(status.logFile, "a");
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(cmd, args, {
      stdio: ["ignore", out.fd, out.fd, ...(p.plan.readyFd ? ["pipe" as const] : [])],
      detached: true,
      env: machineEnv(p.dir),
    });
    await new Promise<void>((res, rej) => {
      child.once("spawn", res);
      child.once("error", rej);
    });
  } catch (e) {
    await removeMachineDir(p.dir, status).catch(() => {});
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      throw new KilnError("KILN_EBACKEND_UNAVAILABLE", `Cannot run ${q(cmd)}: not found`, "Install it.");
    throw e;
  } finally {
    await out.close();
  }
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  child.unref();
  const running: MachineStatus = {
    ...status,
    state: "running",
    pid: child.pid!,
    started: new Date().toISOString(),
  };
  await writeStatus(p.dir, running);
  await afterStart(
    p,
    child,
    () => !exited,
    () => void p.driver.stop(running, p.dir, { timeoutMs: 5000 }),
  );
  return {
    name: status.name,
    backend: p.driver.name,
    status: 0,
    machine: running,
    interrupted: false,
    warnings: p.warnings,
    ...(p.bootState ? { bootState: p.bootState } : {}),
  };
}

async function runAttached(p: Prepared, status: MachineStatus, opts: LaunchOptions): Promise<LaunchResult> {
  const [cmd, ...args] = p.plan.command as [string, ...string[]];
  const dir = p.dir;
  const log = createWriteStream(status.logFile);
  const watch = new ConsoleWatch();
  let outOfMemory: string | undefined;
  watch.onLine((line) => {
    outOfMemory ??= outOfMemoryLine(line);
  });
  const lines: ConsoleLineAt[] = [];
  if (opts.timeline) watch.onLine((text) => lines.push({ at: performance.now(), text }));
  const spawnedAt = performance.now();
  // Tied to kiln: a killed kiln takes its attached machine along (a detached one is started by startDaemon).
  const child = spawnChild(cmd, args, {
    stdio: [
      p.spec.interactive ? "inherit" : "ignore",
      "pipe",
      "pipe",
      ...(p.plan.readyFd ? ["pipe" as const] : []),
    ],
    env: machineEnv(p.dir),
  });
  let stderr = "";
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  };
  const startedAt = new Date().toISOString();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
    child.on("error", rej);
    child.on("close", (code, signal) => res({ code, signal }));
  });
  child.stdout!.on("data", (b: Buffer) => {
    log.write(b);
    watch.feed(b);
    opts.onConsole?.(b);
  });
  child.stderr!.setEncoding("utf8").on("data", (b: string) => {
    if (stderr.length < 65536) stderr += b;
  });
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let outcome: { code: number | null; signal: NodeJS.Signals | null };
  let gone = false;
  void exited.then(
    () => (gone = true),
    () => (gone = true),
  );
  try {
    if (child.pid !== undefined) {
      await writeStatus(dir, { ...status, state: "running", pid: child.pid, started: startedAt });
    }
    await afterStart(
      p,
      child,
      () => !gone,
      () => onAbort(),
    );
    outcome = await exited;
  } catch (e) {
    await new Promise<void>((r) => log.end(r));
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      await removeMachineDir(dir, status).catch(() => {});
      throw new KilnError(
        "KILN_EBACKEND_UNAVAILABLE",
        `Cannot run ${q(cmd)}: not found`,
        "Install it, or use --dry-run to see what would run.",
      );
    }
    throw e;
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
  }
  watch.end();
  await new Promise<void>((r) => log.end(r));
  const stopped = await stat(join(dir, FILES.stopRequested)).then(
    () => true,
    () => false,
  );
  const facts = watch.facts;
  const fallback = p.driver.statusFromExit?.(outcome.code, outcome.signal);
  let exitStatus = facts.exitStatus ?? (interrupted || stopped ? undefined : fallback);
  const reason: MachineStatus["reason"] =
    exitStatus !== undefined ? "exited" : interrupted || stopped ? "stopped" : "crashed";
  const final: MachineStatus = {
    ...status,
    state: "exited",
    ...(child.pid !== undefined ? { pid: child.pid } : {}),
    started: startedAt,
    ended: new Date().toISOString(),
    ...(exitStatus !== undefined ? { exitStatus } : {}),
    reason,
  };
  if (p.spec.rm) await removeMachineDir(dir, status).catch(() => {});
  else await writeStatus(dir, final).catch(() => {});
  if (reason === "crashed") {
    if (outOfMemory) throw outOfMemoryError(p.spec.memoryMB, outOfMemory, p.memory);
    if (p.statePath && !facts.output && /load of migration failed|Failed to load/i.test(stderr))
      throw await unrestorable(p.statePath, stderr);
    if (!facts.output) throw startFailure(p.driver.name, stderr, outcome.code);
    const tail = stderr.trim().split("\n").slice(-4).join("\n");
    throw new KilnError(
      "KILN_EMACHINE_CRASHED",
      `Machine ${q(status.name)} stopped without reporting an exit status (${p.driver.name} ${
        outcome.signal ? `killed by ${outcome.signal}` : `status ${outcome.code}`
      })${tail ? `:\n${tail}` : ""}`,
      p.spec.rm
        ? "Read the console output above: the kernel or kiln-init failed before the program finished (launch with --keep to keep its log for `kiln logs`)."
        : `Read the console output above or \`kiln logs ${status.name}\`: the kernel or kiln-init failed before the program finished.`,
      { details: { name: status.name, code: outcome.code, signal: outcome.signal } },
    );
  }
  if (exitStatus === undefined) exitStatus = interrupted ? 130 : 143;
  return {
    name: status.name,
    backend: p.driver.name,
    status: exitStatus,
    machine: final,
    interrupted,
    // The program's status stands (kiln-init reported it), but a kill for memory is worth saying.
    warnings: [
      ...p.warnings,
      ...(outOfMemory ? [outOfMemoryError(p.spec.memoryMB, outOfMemory, p.memory).message] : []),
      ...(exitStatus === ILLEGAL_INSTRUCTION_STATUS && !interrupted
        ? [illegalInstructionWarning(p.accel)]
        : []),
    ],
    ...(opts.timeline ? { events: { spawnedAt, lines } } : {}),
    ...(p.bootState ? { bootState: p.bootState } : {}),
  };
}

/**
 * A saved boot state QEMU could not load (damaged in a way its digest did not show, or from a QEMU that
 * differs in what its binary's identity does not cover): removed, so that the next launch saves it again.
 */
async function unrestorable(state: string, stderr: string): Promise<KilnError> {
  const { forgetBootState } = await import("./bootState.js");
  await forgetBootState(state);
  const said = stderr.trim().split("\n").slice(-3).join("; ");
  return new KilnError(
    "KILN_EBOOT_STATE",
    `QEMU could not restore the saved boot state ${q(state)}: ${said}`,
    "kiln removed it: launch again (it boots cold once and saves a new one), or give --cold.",
  );
}

/** 128 + SIGILL: how kiln-init reports a program killed for an instruction the CPU does not have. */
const ILLEGAL_INSTRUCTION_STATUS = 132;

/**
 * A bare 132 says nothing to most people. The usual cause is code built for the build machine's CPU
 * (-march=native, as lua's makefile does) running on the VM's. Under KVM the VM has the host's CPU (-cpu
 * host), so that is a program built on another machine; under software emulation it has QEMU's "max" model,
 * which emulates AVX2 but not AVX-512 (QEMU 7.2), so -march=native on an AVX-512 host still fails there.
 */
function illegalInstructionWarning(accel: string | undefined): string {
  const cpu =
    accel === "kvm"
      ? "the VM's CPU is this host's (KVM), so it was built for another machine's"
      : accel === "tcg"
        ? "the VM's CPU is QEMU's software emulation of the most it can (\"max\": AVX2, but no AVX-512)"
        : "the VM's CPU is the hypervisor's";
  return `status 132 is a program killed by SIGILL (an illegal instruction): it was probably built for a CPU with instructions the VM's CPU lacks (${cpu}). Build it for a CPU the VM has (-march=x86-64-v3, or -march=native -mno-avx512f under software emulation; -march=x86-64 anywhere), and rebake.`;
}
