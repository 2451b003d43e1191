/**
 * Launch a machine: plan it with its backend's driver, then run the plan. Attached machines stream their
 * console to `onConsole` (and to console.log in the machine directory) and resolve with the program's exit
 * status; detached ones resolve once the hypervisor runs on its own. A dry run plans only.
 */
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { copyFile, open, readFile, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { readImage } from "../bake/image.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { type Accel, chooseAccel } from "./accel.js";
import { composeCmdline } from "./cmdline.js";
import { placeConfig } from "./configPlacement.js";
import { ConsoleWatch } from "./consoleWatch.js";
import { chooseDriver, driverFor } from "./drivers/index.js";
import { qemuBinary } from "./drivers/qemu.js";
import type { Driver, LaunchPlan, MachineSpec, MachineStatus, PlanContext } from "./machine.js";
import { checkPortsFree, type PortUse } from "./ports.js";
import { runtimeConfig } from "./runtimeConfig.js";
import {
  claimMachine,
  controlSocketPath,
  FILES,
  generateName,
  machineDir,
  removeMachineDir,
  writeStatus,
} from "./state.js";

export interface LaunchOptions {
  /** qemu, xen or firecracker; the first available when absent. */
  backend?: string;
  progress?: Progress;
  /** Console output of an attached machine, as it arrives. */
  onConsole?: (chunk: Buffer) => void;
  /** Aborting stops an attached machine (kill, wait) and resolves with status 130. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

export interface LaunchResult {
  name: string;
  backend: string;
  /** The program's exit status (attached); 0 once a detached machine runs. */
  status: number;
  machine: MachineStatus;
  interrupted: boolean;
  warnings: string[];
}

export interface DryRunResult {
  name: string;
  backend: string;
  command: string[];
  files: { path: string; content: string }[];
  cmdline: string;
  configVia: "none" | "cmdline" | "initrd";
  /** The boot configuration delta the guest gets over the baked one. */
  config?: unknown;
  accel?: Accel;
  warnings: string[];
}

interface Prepared {
  driver: Driver;
  ctx: PlanContext;
  plan: LaunchPlan;
  segment?: Buffer;
  warnings: string[];
  configVia: DryRunResult["configVia"];
  config?: unknown;
}

async function checkHostFiles(spec: MachineSpec): Promise<void> {
  for (const d of spec.disks) {
    const st = await stat(d.file).catch(() => undefined);
    if (!st || !(st.isFile() || st.isBlockDevice())) {
      throw usageError(
        "KILN_EDISK_NOT_FOUND",
        `Cannot attach disk ${q(d.file)}: ${st ? "not a file or block device" : "no such file"}`,
        "Give the path of a raw disk image (make one with: truncate -s 64M disk.img && mkfs.ext4 disk.img).",
      );
    }
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

async function prepare(
  driver: Driver,
  spec: MachineSpec,
  opts: LaunchOptions,
  dryRun: boolean,
): Promise<Prepared> {
  const progress = opts.progress ?? silentProgress;
  const image = await readImage(resolve(spec.image));
  await checkHostFiles(spec);
  const warnings = driver.check(spec, image, dryRun);
  const name = spec.name ?? generateName(image.manifest.name);
  const dir = machineDir(name, opts.env);
  let accel: Accel | undefined;
  if (driver.name === "qemu") {
    let probed = false;
    const choice = await chooseAccel(spec.accel, qemuBinary(opts.env), image.kernel, () => {
      probed = true;
      progress.step("checking whether KVM boots Linux on this host (once per host boot)");
    });
    if (probed) progress.done(`${choice.why}: using ${choice.accel}`);
    accel = choice.accel;
  }
  const base = composeCmdline(image.manifest.cmdline, driver.cmdlineFor(spec, image, accel));
  const cfg = runtimeConfig(spec, image.manifest, (i) => driver.diskDevice(i));
  const placed = placeConfig(base, cfg, { reserve: driver.cmdlineReserve?.(spec, image) ?? 0 });
  const cmdline = [base, ...placed.cmdline].join(" ");
  const ctx: PlanContext = {
    spec: { ...spec, name },
    image,
    dir,
    cmdline,
    initrd: placed.segment ? join(dir, FILES.initrd) : image.initrd,
    ...(accel ? { accel } : {}),
    ...(spec.console === "detached" && driver.name === "qemu"
      ? { consoleFile: join(dir, FILES.console) }
      : {}),
    control: controlSocketPath(dir),
    dryRun,
  };
  const plan = await driver.plan(ctx);
  return {
    driver,
    ctx,
    plan,
    ...(placed.segment ? { segment: placed.segment } : {}),
    warnings: [...warnings, ...plan.warnings],
    configVia: placed.via,
    ...(cfg ? { config: cfg } : {}),
  };
}

function resolveDriver(opts: LaunchOptions): Promise<Driver> | Driver {
  return opts.backend ? driverFor(opts.backend) : chooseDriver();
}

export async function dryRun(spec: MachineSpec, opts: LaunchOptions = {}): Promise<DryRunResult> {
  const p = await prepare(await resolveDriver(opts), spec, opts, true);
  const files = p.plan.files.map((f) => ({ path: join(p.ctx.dir, f.name), content: f.content }));
  if (p.segment) {
    files.push({
      path: p.ctx.initrd,
      content: `(the image's initrd followed by a ${p.segment.length}-byte cpio segment with /kiln/config.json)`,
    });
  }
  return {
    name: p.ctx.spec.name,
    backend: p.driver.name,
    command: p.plan.command,
    files,
    cmdline: p.ctx.cmdline,
    configVia: p.configVia,
    ...(p.config ? { config: p.config } : {}),
    ...(p.ctx.accel ? { accel: p.ctx.accel } : {}),
    warnings: p.warnings,
  };
}

function portUses(spec: MachineSpec): PortUse[] {
  const uses: PortUse[] = [];
  if (spec.net.kind === "user") {
    for (const f of spec.net.forwards) {
      uses.push({
        proto: f.proto,
        port: f.host,
        ...(f.hostAddr ? { addr: f.hostAddr } : {}),
        what: `forwarding to guest port ${f.guest}`,
      });
    }
  }
  if (spec.gdbPort !== undefined) uses.push({ proto: "tcp", port: spec.gdbPort, what: "the gdb stub" });
  return uses;
}

function portsOf(spec: MachineSpec): string[] | undefined {
  if (spec.net.kind !== "user" || spec.net.forwards.length === 0) return undefined;
  return spec.net.forwards.map((f) => `${f.hostAddr ?? "0.0.0.0"}:${f.host}->${f.guest}/${f.proto}`);
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
  const probe = await driver.probe();
  if (!probe.available) {
    throw new KilnError(
      "KILN_EBACKEND_UNAVAILABLE",
      probe.reason ?? `${driver.name} is not available here`,
      probe.hint ?? "Install it, or use --dry-run to see what would run.",
    );
  }
  const p = await prepare(driver, spec, opts, false);
  await checkPortsFree(portUses(spec));
  const name = p.ctx.spec.name;
  const dir = await claimMachine(name, opts.env);
  const logFile = join(dir, FILES.console);
  const status: MachineStatus = {
    name,
    backend: p.driver.name,
    state: "created",
    image: p.ctx.image.dir,
    logFile,
    ...(portsOf(spec) ? { ports: portsOf(spec) } : {}),
    ...(p.plan.control ? { control: p.plan.control } : {}),
  };
  let started = false;
  try {
    await writeStatus(dir, status);
    await writeFile(join(dir, FILES.spec), `${JSON.stringify({ ...spec, name }, null, 2)}\n`);
    for (const f of p.plan.files) await writeFile(join(dir, f.name), f.content);
    if (p.segment) await writeInitrd(p.ctx.image.initrd, p.ctx.initrd, p.segment);
    if (p.plan.daemonizes) {
      const result = await startDaemon(p, status);
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
  const dir = p.ctx.dir;
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((res, rej) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => {
      if (err.length < 65536) err += b.toString("utf8");
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
  };
}

async function runAttached(p: Prepared, status: MachineStatus, opts: LaunchOptions): Promise<LaunchResult> {
  const [cmd, ...args] = p.plan.command as [string, ...string[]];
  const dir = p.ctx.dir;
  const log = createWriteStream(status.logFile);
  const watch = new ConsoleWatch();
  const child = spawn(cmd, args, {
    stdio: [p.ctx.spec.interactive ? "inherit" : "ignore", "pipe", "pipe"],
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
  child.stdout.on("data", (b: Buffer) => {
    log.write(b);
    watch.feed(b);
    opts.onConsole?.(b);
  });
  child.stderr.on("data", (b: Buffer) => {
    if (stderr.length < 65536) stderr += b.toString("utf8");
  });
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let outcome: { code: number | null; signal: NodeJS.Signals | null };
  try {
    if (child.pid !== undefined) {
      await writeStatus(dir, { ...status, state: "running", pid: child.pid, started: startedAt });
    }
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
  if (p.ctx.spec.rm) await removeMachineDir(dir, status).catch(() => {});
  else await writeStatus(dir, final).catch(() => {});
  if (reason === "crashed") {
    if (!facts.output) throw startFailure(p.driver.name, stderr, outcome.code);
    const tail = stderr.trim().split("\n").slice(-4).join("\n");
    throw new KilnError(
      "KILN_EMACHINE_CRASHED",
      `Machine ${q(status.name)} stopped without reporting an exit status (${p.driver.name} ${
        outcome.signal ? `killed by ${outcome.signal}` : `status ${outcome.code}`
      })${tail ? `:\n${tail}` : ""}`,
      p.ctx.spec.rm
        ? "Read the console output above: the kernel or kiln-init failed before the program finished."
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
    warnings: p.warnings,
  };
}
