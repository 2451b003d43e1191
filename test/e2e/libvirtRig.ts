// A real libvirt for the libvirt tests: Debian's libvirtd and virtlogd (libvirt-daemon-driver-qemu,
// libvirt-daemon-system), started here as root without systemd, as the field notes found they run. Idempotent:
// a daemon that already answers is used as it is, and left running afterwards (other test files share it).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { poll } from "../helpers.js";

export const LOCAL_URI = "qemu:///system";

/** virsh against `uri`: status and output, never a throw. */
export function virshRun(uri: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync("virsh", ["-q", "-c", uri, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function answers(): boolean {
  return virshRun(LOCAL_URI, ["version", "--daemon"]).code === 0;
}

function running(name: string): boolean {
  return spawnSync("pgrep", ["-x", name]).status === 0;
}

/** libvirtd (with its QEMU driver) and virtlogd answering on this host; started when they are not. */
export async function startLibvirt(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the libvirt tests start libvirtd and need root");
  for (const bin of ["/usr/sbin/libvirtd", "/usr/sbin/virtlogd"])
    if (!existsSync(bin)) throw new Error(`${bin} is missing: bash scripts/install-deps.sh installs libvirt`);
  if (answers() && running("virtlogd")) return;
  mkdirSync("/var/log/libvirt", { recursive: true });
  mkdirSync("/var/run/libvirt", { recursive: true });
  if (!running("virtlogd")) execFileSync("/usr/sbin/virtlogd", ["-d"], { stdio: "ignore" });
  if (!running("libvirtd")) execFileSync("/usr/sbin/libvirtd", ["-d"], { stdio: "ignore" });
  await poll("libvirtd answering on qemu:///system", () => (answers() ? true : undefined), {
    timeoutMs: 30_000,
  });
}

/** Destroy the transient domains whose names start with `prefix` (what a failed test may leave). */
export function destroyDomains(uri: string, prefix: string): void {
  const names = virshRun(uri, ["list", "--name", "--all"])
    .stdout.split("\n")
    .map((s) => s.trim());
  for (const n of names) if (n.startsWith(prefix)) virshRun(uri, ["destroy", n]);
}
