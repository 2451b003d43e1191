/**
 * Machine state on disk: one directory per machine under paths.machines()/<name>/ holding spec.json,
 * status.json (written atomically), console.log, the hypervisor's pid file and control socket.
 * A status that says "running" is only believed while its pid is alive AND that process is ours (its
 * command line names this directory), so a killed or crashed machine shows as exited, never running.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { paths } from "../core/paths.js";
import { consoleFacts } from "./consoleWatch.js";
import type { MachineStatus } from "./machine.js";

export const FILES = {
  spec: "spec.json",
  status: "status.json",
  console: "console.log",
  pid: "hypervisor.pid",
  qmp: "qmp.sock",
  stopRequested: "stop-requested",
  initrd: "initrd",
} as const;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw usageError(
      "KILN_EBAD_NAME",
      `Cannot name a machine ${q(name)}`,
      "Use letters, digits, '.', '_' and '-' (up to 63), starting with a letter or digit.",
    );
  }
  return name;
}

/** A fresh name from the image name: web-3f9a1c. */
export function generateName(imageName: string): string {
  const base =
    imageName
      .replace(/[^A-Za-z0-9_.-]+/g, "-")
      .replace(/^[^A-Za-z0-9]+/, "")
      .slice(0, 48) || "machine";
  return `${base}-${randomBytes(3).toString("hex")}`;
}

export function machineDir(name: string, env?: NodeJS.ProcessEnv): string {
  return join(paths.machines(env), name);
}

/** A unix socket path must fit in sun_path (108 bytes); long homes put the socket in a private tmp dir. */
export function controlSocketPath(dir: string): string {
  const p = join(dir, FILES.qmp);
  if (Buffer.byteLength(p) < 100) return p;
  return join(tmpdir(), `kiln-${process.getuid?.() ?? 0}`, `qmp-${randomBytes(6).toString("hex")}.sock`);
}

export async function readStatus(dir: string): Promise<MachineStatus | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, FILES.status), "utf8")) as MachineStatus;
  } catch {
    return undefined;
  }
}

export async function writeStatus(dir: string, st: MachineStatus): Promise<void> {
  await writeFileAtomic(join(dir, FILES.status), `${JSON.stringify(st, null, 2)}\n`);
}

/**
 * The environment variable every machine's command is started with, naming the machine's directory: how
 * kiln knows its own processes when their arguments do not name it (xenconsole has only a domain id).
 */
export const MACHINE_ENV = "KILN_MACHINE";

/** Whether `pid` is alive and is the hypervisor of the machine in `dir` (not a recycled pid). */
export async function isOurProcess(pid: number | undefined, dir: string): Promise<boolean> {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    // A zombie has an empty command line: it is not running any more.
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    if (cmdline.length <= 1 && !cmdline[0]) return false;
    if (cmdline.some((a) => a.includes(`${dir}/`))) return true;
    const environ = (await readFile(`/proc/${pid}/environ`, "utf8")).split("\0");
    return environ.includes(`${MACHINE_ENV}=${dir}`);
  } catch {
    return false;
  }
}

/** The status as it really is now: a "running" machine whose process is gone has exited. */
export async function liveStatus(dir: string, st: MachineStatus): Promise<MachineStatus> {
  if (st.state !== "running") return st;
  if (await isOurProcess(st.pid, dir)) return st;
  let text = "";
  let ended: string | undefined;
  try {
    text = await readFile(st.logFile, "utf8");
    ended = (await stat(st.logFile)).mtime.toISOString();
  } catch {}
  const facts = consoleFacts(text);
  const stopped = await stat(join(dir, FILES.stopRequested)).then(
    () => true,
    () => false,
  );
  return {
    ...st,
    state: "exited",
    ...(ended ? { ended } : {}),
    ...(facts.exitStatus !== undefined ? { exitStatus: facts.exitStatus } : {}),
    reason: stopped ? "stopped" : facts.exitStatus !== undefined ? "exited" : "crashed",
  };
}

export async function listMachines(env?: NodeJS.ProcessEnv): Promise<MachineStatus[]> {
  let names: string[] = [];
  try {
    names = (await readdir(paths.machines(env))).filter((n) => NAME_RE.test(n));
  } catch {
    return [];
  }
  const out: MachineStatus[] = [];
  for (const name of names.sort()) {
    const dir = machineDir(name, env);
    const st = await readStatus(dir);
    if (st) out.push(await liveStatus(dir, st));
  }
  return out;
}

export async function getMachine(
  name: string,
  env?: NodeJS.ProcessEnv,
): Promise<{ dir: string; status: MachineStatus }> {
  checkName(name);
  const dir = machineDir(name, env);
  const st = await readStatus(dir);
  if (!st) {
    throw new KilnError(
      "KILN_EMACHINE_NOT_FOUND",
      `No machine named ${q(name)}`,
      "`kiln ps` lists the machines there are.",
    );
  }
  return { dir, status: await liveStatus(dir, st) };
}

/**
 * Take a name for a new machine: creates its directory. A running machine of that name is an error; an
 * exited one is replaced (its directory and log go).
 */
export async function claimMachine(name: string, env?: NodeJS.ProcessEnv): Promise<string> {
  checkName(name);
  const dir = machineDir(name, env);
  await mkdir(paths.machines(env), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await mkdir(dir);
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const st = await readStatus(dir);
    const live = st ? await liveStatus(dir, st) : undefined;
    // A directory without a status is a launch in progress, unless it is old: then that launch died.
    const stale =
      !st &&
      (await stat(dir).then(
        (s) => Date.now() - s.mtimeMs > 60_000,
        () => true,
      ));
    if (live?.state !== "exited" && !stale) {
      throw new KilnError(
        "KILN_EMACHINE_EXISTS",
        `A machine named ${q(name)} is already ${live?.state ?? "being created"}`,
        `Choose another --name, or stop it first: kiln stop ${name} && kiln rm ${name}`,
      );
    }
    await removeMachineDir(dir, live);
  }
  throw new KilnError(
    "KILN_EMACHINE_EXISTS",
    `Cannot create machine ${q(name)}: another launch took the name at the same time`,
    "Choose another --name.",
  );
}

export async function removeMachineDir(dir: string, st?: MachineStatus): Promise<void> {
  if (st?.control && !st.control.startsWith(dir)) await rm(st.control, { force: true });
  await rm(dir, { recursive: true, force: true });
}
