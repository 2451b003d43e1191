/**
 * Saved boot states (QEMU). The first launch of an image on a given machine shape boots it once with
 * kiln.hold=1: the kernel comes up, kiln-init loads the modules for the machine's devices, says
 * "kiln: held" and waits. kiln stops that QEMU there and saves it (QEMU's migration stream, to a file).
 * Every launch of the same shape then starts QEMU with -incoming from that file, and kiln-init goes on with
 * the launch's own parameters, which it reads from fw_cfg (not part of the stream): its configuration, a
 * fresh random seed (mixed in and reseeded: every restored guest starts from one random pool) and the wall
 * clock. Under software emulation that skips the kernel's boot: hello's line ~1.2 s -> ~0.2 s.
 *
 * A state fits only a QEMU started with the same devices, memory, kernel, initrd and command line, so it is
 * named by a digest of the template's QEMU arguments and of the files they load; per-launch values that are
 * not part of the stream (the machine's name, its control socket, where port forwards listen) are left out.
 * Machines that a state could not serve boot cold: disks and shares (a driver in the template would have
 * read their size and partitions), other networks than QEMU's user networking, a gdb stub, --firewall (an
 * initrd segment), --timeline (it explains a boot), a hypervisor, machines other than microvm, images baked
 * before kiln-init could hold, and --cold.
 *
 * States live in cache/boot-states/<key>.state with <key>.json beside it (its sha256, checked through the
 * digest cache before each use, so a changed file is never restored); the most recently used few are kept.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { fileDigest } from "../core/digestCache.js";
import { which } from "../core/exec.js";
import { keepNewest } from "../core/keepNewest.js";
import { paths } from "../core/paths.js";
import { scratchBeside } from "../core/scratchName.js";
import { spawnChild } from "../core/spawnChild.js";
import type { BootConfig } from "../manifest/bootConfig.js";
import type { Image } from "../manifest/imageManifest.js";
import { shQuote } from "../toolchain/quote.js";
import { encodeConfig } from "./configPlacement.js";
import { qemuArgs, qemuBinary } from "./drivers/qemu.js";
import { type MachineSpec, machineNets } from "./machine.js";
import { qmpCommand } from "./qmp.js";

const KEEP = 8;
export const HOLD = "kiln.hold=1";
/** Bumped when what a state holds changes meaning (kiln-init's hold protocol, the key's parts). */
const FORMAT = 1;

export interface BootStateInput {
  spec: MachineSpec & { name: string };
  image: Image;
  accel: "kvm" | "tcg";
  /** The launch's kernel command line without its configuration. */
  base: string;
  config?: BootConfig;
  env?: NodeJS.ProcessEnv;
}

export interface BootStateUse {
  /** The command line the state was booted with (the launch's, plus kiln.hold=1). */
  cmdline: string;
  /** QEMU arguments that restore the state and hand the launch's parameters over. */
  args: string[];
  state: string;
  /** Whether this launch saved the state (its first boot of this shape). */
  saved: boolean;
}

/** Why a machine boots cold rather than from a saved state; undefined when a state can serve it. */
export function coldReason(
  spec: MachineSpec,
  image: Image,
  opts: { backend: string; timeline?: boolean },
): string | undefined {
  if (spec.cold) return "--cold";
  if (opts.backend !== "qemu") return `the ${opts.backend} backend`;
  if (opts.timeline) return "--timeline";
  if (!image.manifest.holds) return "an image baked before kiln-init could hold";
  if (image.hypervisor) return "a hypervisor image";
  if (spec.machine !== "microvm") return `machine type ${spec.machine}`;
  if (spec.disks.length > 0) return "a disk";
  if (spec.shares.length > 0) return "a share";
  if (spec.gdbPort !== undefined) return "a gdb stub";
  if (spec.firewall) return "--firewall";
  if (machineNets(spec).some((n) => n.kind !== "user")) return "a network other than user";
  return undefined;
}

function templateArgs(i: BootStateInput, dir: string): string[] {
  // The template is stopped before it is saved; without the run state in the stream, the QEMU that
  // restores it starts the guest at once (its own default) instead of staying paused as the template was.
  return [
    "-global",
    "migration.store-global-state=off",
    ...qemuArgs({
      spec: { ...i.spec, name: "boot-state", console: "attached" },
      image: i.image,
      cmdline: `${i.base} ${HOLD}`,
      initrd: i.image.initrd,
      accel: i.accel,
      dir,
      control: join(dir, "qmp"),
    }),
  ];
}

/**
 * What a state must match: QEMU's binary, the arguments that shape the machine, and the bytes of the
 * kernel and initrd they load (by the manifest's digests, which opening the image checked; the direct
 * kernel's file is touched on every use, so its times say nothing).
 */
export async function stateKey(i: BootStateInput): Promise<string> {
  const args = templateArgs(i, "/boot-state").map((a) => a.replace(/,hostfwd=[^,]*(?:,,[^,]*)*/g, ""));
  const bin = (await which(qemuBinary(i.env))) ?? qemuBinary(i.env);
  const s = await stat(bin);
  const m = i.image.manifest;
  const parts = {
    qemu: [bin, s.dev, s.ino, s.size, s.mtimeMs],
    kernel: m.kernel.sha256,
    initrd: m.initrd.sha256,
  };
  return sha256(JSON.stringify({ v: FORMAT, args, parts })).slice(0, 32);
}

/** The launch's own parameters, as kiln-init reads them from fw_cfg (kiln.* words, like the command line). */
export function bootParameters(
  config: BootConfig | undefined,
  now = Date.now(),
  seed = randomBytes(32),
): string {
  const ms = Math.floor(now);
  const time = `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1_000_000).padStart(9, "0")}`;
  return [
    `kiln.seed=${seed.toString("hex")}`,
    `kiln.time=${time}`,
    ...(config ? [`kiln.config=${encodeConfig(config)}`] : []),
  ].join(" ");
}

function restoreArgs(state: string, i: BootStateInput): string[] {
  // fw_cfg's string= is a QEMU option value: base64url and hex have no commas to double.
  return [
    "-fw_cfg",
    `name=opt/kiln/boot,string=${bootParameters(i.config)}`,
    "-incoming",
    `exec:cat ${shQuote(state)}`,
  ];
}

function metaPath(state: string): string {
  return `${state.replace(/\.state$/, "")}.json`;
}

/** A saved state whose bytes are those it was saved with, or undefined. */
async function usable(state: string, env?: NodeJS.ProcessEnv): Promise<boolean> {
  const meta = await readFile(metaPath(state), "utf8")
    .then((t) => JSON.parse(t) as { sha256?: string })
    .catch(() => undefined);
  if (!meta?.sha256) return false;
  // One that does not match is left for the next save to replace: removing it here could remove the state
  // another kiln has just put in place (its digest follows it by a moment).
  const d = await fileDigest(state, env ? { env } : {}).catch(() => undefined);
  return d?.sha256 === meta.sha256;
}

/**
 * The saved state for this launch: an existing one, or (unless `save` is false, as for a dry run) one made
 * now by booting the template. Undefined when none can be had; `why` then says what went wrong in saving.
 */
export async function bootState(
  i: BootStateInput,
  opts: { save: boolean; onSaving?: () => void; onConsole?: (chunk: Buffer) => void },
): Promise<{ use?: BootStateUse; why?: string }> {
  const dir = join(paths.cache(i.env), "boot-states");
  const key = await stateKey(i);
  const state = join(dir, `${key}.state`);
  const cmdline = `${i.base} ${HOLD}`;
  if (await usable(state, i.env)) {
    // Use is marked on the digest file: touching the state would change its ctime, and the digest cache
    // would then read all of it again on the next launch.
    const now = new Date();
    await utimes(metaPath(state), now, now).catch(() => {});
    return { use: { cmdline, args: restoreArgs(state, i), state, saved: false } };
  }
  if (!opts.save) return {};
  opts.onSaving?.();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // A scratch name: what a killed kiln left here goes with the next save (or kiln gc).
  const work = await scratchBeside(join(dir, "saving"));
  await mkdir(work, { mode: 0o700 });
  try {
    const why = await saveTemplate(i, work, join(work, "state"), opts.onConsole);
    if (why) return { why };
    // The guest's memory, its random pool among it: for this user only, as the state directory is.
    await chmod(join(work, "state"), 0o600);
    const d = await fileDigest(join(work, "state"), i.env ? { env: i.env } : {});
    await rename(join(work, "state"), state);
    await writeFileAtomic(join(dir, `${key}.json`), `${JSON.stringify({ v: FORMAT, sha256: d.sha256 })}\n`);
    // Each holds the guest's memory (~60 MB for the stock kernel); used is marked on the digest file.
    await keepNewest(dir, { suffix: ".state", keep: KEEP, usedBy: metaPath, remove: forgetBootState });
    return { use: { cmdline, args: restoreArgs(state, i), state, saved: true } };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Boot the template to kiln-init's hold and save it to `out`; a reason when that failed. */
async function saveTemplate(
  i: BootStateInput,
  work: string,
  out: string,
  onConsole?: (chunk: Buffer) => void,
): Promise<string | undefined> {
  const args = templateArgs(i, work);
  const control = join(work, "qmp");
  // Tied to kiln, as an attached machine is: a killed kiln takes its template along.
  const child = spawnChild(qemuBinary(i.env), args, { stdio: ["ignore", "pipe", "pipe"] });
  let console = "";
  let stderr = "";
  const exited = new Promise<number | null>((res) => {
    child.once("error", () => res(null));
    child.once("close", (c) => res(c));
  });
  try {
    const held = await new Promise<boolean>((res) => {
      // Under software emulation the stock kernel takes ~1.2 s here; a guest that never holds is given up.
      const timer = setTimeout(() => res(false), i.accel === "kvm" ? 30_000 : 120_000);
      // The template's boot is this launch's, so its console is shown as it comes, line by line, all but
      // the hold's own line.
      let partial = "";
      child.stdout?.setEncoding("utf8").on("data", (s: string) => {
        console = (console + s).slice(-65536);
        const lines = (partial + s).split("\n");
        partial = lines.pop() ?? "";
        const shown = lines.filter((l) => l.replace(/\r$/, "") !== "kiln: held");
        if (shown.length) onConsole?.(Buffer.from(`${shown.join("\n")}\n`));
        if (shown.length < lines.length) {
          clearTimeout(timer);
          res(true);
        }
      });
      child.stderr?.setEncoding("utf8").on("data", (s: string) => {
        stderr = (stderr + s).slice(-8192);
      });
      void exited.then(() => {
        clearTimeout(timer);
        res(false);
      });
    });
    if (!held) {
      const last = (stderr.trim() || console.trim()).split("\n").slice(-1)[0] ?? "";
      return `the template boot did not reach kiln-init's hold${last ? ` (last: ${last.trim()})` : ""}`;
    }
    const ask = async (execute: string, a?: Record<string, unknown>) => {
      const r = await qmpCommand(control, execute, a, 10_000);
      if (r.error) throw new Error(`QMP ${execute}: ${r.error.desc}`);
      return r.return as Record<string, unknown> | undefined;
    };
    await ask("stop");
    await ask("migrate", { uri: `exec:cat > ${shQuote(out)}` });
    for (const t0 = Date.now(); ; ) {
      const s = (await ask("query-migrate"))?.status;
      if (s === "completed") break;
      if (s === "failed" || s === "cancelled") return `QEMU's migration ${s}`;
      if (Date.now() - t0 > 60_000) return "QEMU's migration did not complete within 60 s";
      await new Promise((r) => setTimeout(r, 10));
    }
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    stop(child);
    await exited;
  }
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}

/** Remove a state and its digest file (one QEMU could not load, or one pruned). */
export async function forgetBootState(state: string): Promise<void> {
  await rm(state, { force: true });
  await rm(metaPath(state), { force: true });
}
