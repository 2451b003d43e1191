/**
 * KVM or TCG. /dev/kvm existing (even opening) is not enough: on some hosts (nested virtualisation) KVM runs
 * real-mode code but hangs a Linux boot. So `auto` boots the image's kernel once under KVM with no initrd:
 * it panics ("no root") and, with panic=-1 and -no-reboot, QEMU exits in well under a second when KVM
 * works; a hang means it does not. The verdict is cached per host boot (boot_id) and QEMU binary.
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { which } from "../core/exec.js";
import { spawnChild } from "../core/spawnChild.js";

export type Accel = "kvm" | "tcg";
export type AccelRequest = "auto" | Accel;

const PROBE_TIMEOUT_MS = 6000;

export function accelRequest(value: string | undefined, fallback: AccelRequest = "auto"): AccelRequest {
  if (value === undefined || value === "") return fallback;
  if (value === "auto" || value === "kvm" || value === "tcg") return value;
  throw usageError(
    "KILN_EBAD_ACCEL",
    `Cannot use accelerator ${q(value)}`,
    "Use auto, kvm or tcg (KILN_ACCEL or --accel).",
  );
}

async function kvmOpens(): Promise<boolean> {
  try {
    const fh = await open("/dev/kvm", constants.O_RDWR);
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

async function cacheFile(): Promise<string | undefined> {
  const uid = process.getuid?.() ?? 0;
  const dir = join(tmpdir(), `kiln-${uid}`);
  try {
    await mkdir(dir, { mode: 0o700, recursive: true });
    const st = await lstat(dir);
    // Only trust a directory that is really ours (not planted by another user in a shared /tmp).
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return undefined;
    return join(dir, "accel.json");
  } catch {
    return undefined;
  }
}

async function hostKey(qemuName: string): Promise<string> {
  const qemu = (await which(qemuName)) ?? qemuName;
  let boot = "";
  try {
    boot = (await readFile("/proc/sys/kernel/random/boot_id", "utf8")).trim();
  } catch {}
  let qemuId = qemu;
  try {
    const st = await stat(qemu);
    qemuId = `${qemu}:${st.size}:${st.mtimeMs}`;
  } catch {}
  return `${boot}|${qemuId}`;
}

/** Boot `kernel` under KVM without an initrd and see whether it gets as far as its panic. */
export function kvmBoots(qemu: string, kernel: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawnChild(
      qemu,
      [
        "-accel",
        "kvm",
        "-M",
        "microvm",
        "-m",
        "128",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        kernel,
        "-append",
        "console=ttyS0 quiet panic=-1 reboot=t",
      ],
      { stdio: "ignore" },
    );
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve(false);
    }, timeoutMs);
    child.on("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // QEMU exits 0 when the guest resets under -no-reboot; an abort (KVM MSR errors) is not a boot.
      resolve(signal === null && code === 0);
    });
  });
}

export interface AccelChoice {
  accel: Accel;
  why: string;
}

/**
 * `kernel` is a Linux kernel to try KVM with, or a function finding one only when the verdict is not cached
 * (a launchable carries its kernel inside a disk); without one, TCG is the safe choice.
 */
export async function chooseAccel(
  req: AccelRequest,
  qemu: string,
  kernel: string | (() => Promise<string | undefined>),
  onProbe?: () => void,
): Promise<AccelChoice> {
  if (req === "tcg") return { accel: "tcg", why: "requested" };
  const opens = await kvmOpens();
  if (req === "kvm") {
    if (!opens) {
      throw new KilnError(
        "KILN_EKVM_UNAVAILABLE",
        `Cannot use KVM: ${q("/dev/kvm")} cannot be opened for reading and writing`,
        "Add yourself to the kvm group, or launch with --accel tcg (software emulation, slower).",
      );
    }
    return { accel: "kvm", why: "requested" };
  }
  if (!opens) return { accel: "tcg", why: "/dev/kvm cannot be opened" };
  const file = await cacheFile();
  const key = await hostKey(qemu);
  // One verdict per QEMU binary, for this host boot only (boot ids differ, so old boots' entries go).
  let verdicts: Record<string, boolean> = {};
  if (file) {
    try {
      verdicts = JSON.parse(await readFile(file, "utf8")) as Record<string, boolean>;
    } catch {}
    const cached = verdicts[key];
    if (typeof cached === "boolean") {
      return cached
        ? { accel: "kvm", why: "KVM boots Linux here (cached)" }
        : { accel: "tcg", why: "KVM does not boot Linux here (cached)" };
    }
  }
  const probeKernel = typeof kernel === "string" ? kernel : await kernel();
  if (probeKernel === undefined) return { accel: "tcg", why: "no Linux kernel at hand to check KVM with" };
  onProbe?.();
  const kvm = await kvmBoots(qemu, probeKernel);
  if (file) {
    const boot = key.slice(0, key.indexOf("|") + 1);
    const kept = Object.fromEntries(Object.entries(verdicts).filter(([k]) => k.startsWith(boot)));
    await writeFileAtomic(file, JSON.stringify({ ...kept, [key]: kvm })).catch(() => {});
  }
  return kvm
    ? { accel: "kvm", why: "KVM boots Linux here" }
    : { accel: "tcg", why: "KVM opens but does not boot Linux here" };
}
