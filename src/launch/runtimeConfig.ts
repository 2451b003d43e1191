/**
 * The launch-time boot configuration: what the user asked for at launch (environment, arguments, network,
 * disks, shares), as a delta kiln-init merges key by key over the baked /kiln/image.json. Keys are replaced
 * whole by the guest, so a delta key carries the merged value (baked env plus -e, baked rc with new argv).
 */
import { posix } from "node:path";
import { q, usageError } from "../core/errors.js";
import { initAccounts, resolveUser } from "../manifest/accounts.js";
import type { NetEntry } from "../manifest/bootConfig.js";
import { type BootConfig, bootConfigProblem, describeProblem } from "../manifest/bootConfig.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { type MachineSpec, machineNets, type NetSpec } from "./machine.js";

/** QEMU user networking's fixed addresses (slirp): guest 10.0.2.15, gateway 10.0.2.2, DNS 10.0.2.3. */
export const USER_NET = { addr: "10.0.2.15/24", gw: "10.0.2.2", dns: ["10.0.2.3"] } as const;

export function runtimeConfig(
  spec: MachineSpec,
  manifest: ImageManifest,
  diskDevice: (index: number) => string,
): BootConfig | undefined {
  const baked = manifest.config ?? { v: 1 };
  const delta: Record<string, unknown> = {};
  if (Object.keys(spec.env).length > 0) delta.env = { ...(baked.env ?? {}), ...spec.env };
  if (spec.args !== undefined || spec.user !== undefined) {
    const rc = baked.rc ?? [];
    const main = rc.findIndex((e) => (e.mode ?? "main") === "main");
    if (main < 0) {
      throw usageError(
        spec.args !== undefined ? "KILN_EARGS_NO_PROGRAM" : "KILN_EUSER",
        spec.args !== undefined
          ? `Cannot pass arguments ${q(spec.args.join(" "))} to image ${q(manifest.name)}: it has no main program`
          : `Cannot run image ${q(manifest.name)} as ${q(spec.user)}: it has no main program`,
        "A kernel-plane image runs no program; launch it without arguments after the image.",
      );
    }
    const accounts = manifest.accounts ?? initAccounts();
    const who = spec.user !== undefined ? resolveUser(spec.user, accounts.users, accounts.groups) : undefined;
    delta.rc = rc.map((e, i) => {
      if (i !== main) return e;
      const argv0 = e.argv?.[0] ?? posix.basename(e.bin);
      return {
        ...e,
        ...(spec.args !== undefined ? { argv: [argv0, ...spec.args] } : {}),
        ...(who ? { uid: who.uid, gid: who.gid } : {}),
      };
    });
  }
  const nets = machineNets(spec);
  if (nets.length > 0) delta.net = nets.map((n, i) => netEntry(n, `eth${i}`, baked.net));
  const blk: NonNullable<BootConfig["blk"]> = [];
  spec.disks.forEach((d, i) => {
    if (d.mount) blk.push({ dev: diskDevice(i), fs: d.fs ?? "ext4", mount: d.mount, ro: d.ro });
  });
  // Shares travel as 9p mounts: the "device" is the mount tag the launcher gave the share.
  spec.shares.forEach((s, i) => {
    blk.push({ dev: `share${i}`, fs: "9p", mount: s.mount, ro: s.ro, ...(s.cache ? { cache: true } : {}) });
  });
  // kiln-init replaces a key as a whole: the baked mounts (a Xen host's xenfs) go along, unless a launch-time
  // mount takes their place.
  if (blk.length > 0)
    delta.blk = [...(baked.blk ?? []).filter((b) => !blk.some((n) => n.mount === b.mount)), ...blk];
  if (Object.keys(delta).length === 0) return undefined;
  const cfg = { v: 1, ...delta } as BootConfig;
  checkDelta(cfg);
  return cfg;
}

/**
 * The guest's side of NIC `ifname`: user networking's fixed addresses; else what --net says (ip=CIDR, dhcp,
 * none); without ip=, what the image bakes for that interface (a router's legs), else DHCP. mtu= wins over
 * either. Baked entries for interfaces this machine does not have are left out: kiln-init would wait for them.
 */
function netEntry(n: NetSpec, ifname: string, baked: NetEntry[] = []): NetEntry {
  if (n.kind === "user") return { if: ifname, addr: USER_NET.addr, gw: USER_NET.gw, dns: [...USER_NET.dns] };
  if (n.kind === "none") return { if: ifname };
  let e: NetEntry;
  if (n.addr === "none") e = { if: ifname };
  else if (n.addr === "dhcp") e = { if: ifname, dhcp: true };
  else if (n.addr) e = { if: ifname, addr: n.addr, ...(n.gw ? { gw: n.gw } : {}) };
  else e = baked.find((b) => b.if === ifname) ?? { if: ifname, dhcp: true };
  return n.mtu ? { ...e, mtu: n.mtu } : e;
}

/**
 * kiln-init's own checks (src/manifest/bootConfig.ts mirrors guest/config.c and guest/json.c), made before
 * the machine boots: a value it would refuse, or a configuration too large for it to read, is a usage error
 * now instead of "config error" and status 125 after a boot.
 */
function checkDelta(cfg: BootConfig): void {
  const problem = bootConfigProblem(cfg);
  if (!problem) return;
  throw usageError(
    "KILN_ELAUNCH_CONFIG",
    `Cannot pass this configuration to the guest: ${describeProblem(problem)}`,
    problem.path === ""
      ? "Pass less with -e and program arguments: put large values in a file on a disk (-b FILE,/MOUNT) instead."
      : "Check -e, program arguments, -b and --net values against the limits in guest/README.md.",
    { key: problem.path },
  );
}
