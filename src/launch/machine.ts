/**
 * The launch contract (after KraftKit's machine drivers): one MachineSpec says what to run, one
 * MachineStatus says how it is going, and one Driver per hypervisor turns a spec into a plan (the command
 * and the files it reads) and knows how to stop what it started.
 *
 * Drivers only plan; launch.ts runs every plan the same way: it writes the plan's files into the machine's
 * state directory, spawns the command, tees the console to the log file and to `onConsole`, and takes the
 * program's exit status from the console line `kiln: exit N` that kiln-init prints last. A driver may offer
 * a fallback for a machine that died without that line (QEMU's isa-debug-exit status).
 */
import type { Image } from "../manifest/imageManifest.js";
import type { CmdlineParts } from "./cmdline.js";

export const BACKENDS = ["qemu", "xen", "firecracker", "libvirt"] as const;
export type Backend = (typeof BACKENDS)[number];

export const MACHINE_TYPES = ["microvm", "q35", "pc"] as const;
export type MachineType = (typeof MACHINE_TYPES)[number];

export interface PortForward {
  proto: "tcp" | "udp";
  host: number;
  guest: number;
  /** Host address to listen on; 127.0.0.1 when absent (options.ts LOOPBACK). */
  hostAddr?: string;
}

/** Guest-side settings for a NIC on a tap, bridge or socket link (user networking has fixed ones). */
export interface GuestAddr {
  /**
   * CIDR (10.0.0.2/24), "dhcp" (kiln-init's client) or "none" (the interface comes up without an address:
   * a bridge port, or a firewall's outside leg addressed by a setup step). Absent: the image's own setting
   * for that interface when it bakes one, else DHCP.
   */
  addr?: string;
  gw?: string;
  mac?: string;
  mtu?: number;
}

/**
 * A VM-to-VM link through QEMU's socket netdev, no root needed: one side listens on a TCP port and the other
 * connects to it (a cable between two machines), or every side joins one UDP multicast group (a hub: any
 * number of machines on one L2 segment; `local` is the host address it goes through, 127.0.0.1 by default).
 */
export interface SocketLink {
  mode: "listen" | "connect" | "mcast";
  /** ADDR:PORT (listen, connect) or GROUP:PORT (mcast). */
  addr: string;
  local?: string;
}

export type NetSpec =
  | { kind: "none" }
  | { kind: "user"; forwards: PortForward[] }
  | ({ kind: "tap"; ifname: string } & GuestAddr)
  | ({ kind: "bridge"; bridge: string } & GuestAddr)
  /** A libvirt virtual network by name (libvirt only). */
  | ({ kind: "network"; network: string } & GuestAddr)
  | ({ kind: "socket"; link: SocketLink } & GuestAddr);

export interface DiskSpec {
  /** Host path of a raw disk image. */
  file: string;
  /** Where kiln-init mounts it; unmounted when absent. */
  mount?: string;
  ro: boolean;
  /** File system kiln-init mounts it as (default ext4). */
  fs?: string;
}

export interface ShareSpec {
  host: string;
  mount: string;
  ro: boolean;
  /** The guest caches names and data: fast, but blind to what the host changes while it runs. */
  cache?: boolean;
}

/**
 * A launchable file (`kiln image`'s raw disk, ISO or converted disk) that QEMU boots through its firmware
 * from the medium, as the target system would: no -kernel, so nothing reaches the guest at launch except
 * what QEMU attaches (NIC, disks). The configuration baked into it is all the guest gets.
 */
export interface LaunchableMedium {
  /** iso, raw-bios, raw-uefi, raw (BIOS and UEFI), qcow2, vmdk or vhd, told from the content. */
  kind: string;
  /** QEMU arguments for the machine type, the firmware and the medium itself. */
  args: string[];
  /** The firmware or kernel cannot boot with less (OVMF). */
  memoryMinMB: number;
  /** The UEFI firmware file, when it boots with UEFI. */
  firmware?: string;
  /** The hypervisor its boot loader starts first (a Xen host's medium): the machine needs its CPU model. */
  hypervisor?: string;
}

export interface MachineSpec {
  /** Image directory (kernel, initrd, manifest.json), or the launchable file when `launchable` is set. */
  image: string;
  /** Set when `image` is a launchable file rather than an image directory (QEMU only). */
  launchable?: LaunchableMedium;
  /** Unique among this user's machines; generated from the image name when absent. */
  name?: string;
  memoryMB: number;
  cpus: number;
  machine: MachineType;
  /** The first NIC (eth0), or none. */
  net: NetSpec;
  /** More NICs, eth1, eth2... in this order (QEMU only; never "none"). */
  moreNets?: NetSpec[];
  /**
   * A host file: the nftables ruleset the image's nft loads instead of its baked one (QEMU only; it travels in
   * an initrd segment over /kiln/firewall.nft).
   */
  firewall?: string;
  disks: DiskSpec[];
  shares: ShareSpec[];
  /** Merged over the baked environment. */
  env: Record<string, string>;
  /** Replace the main program's argv[1..]; the baked argv when absent. */
  args?: string[];
  /** Run the main program as this user (NAME|UID[:GROUP|GID], resolved against the image's accounts). */
  user?: string;
  console: "attached" | "detached";
  /** Pass kiln's stdin to the guest console (attached only). */
  interactive: boolean;
  gdbPort?: number;
  /** Boot from the kernel up, not from the image's saved boot state (src/launch/bootState.ts). */
  cold?: boolean;
  /** QEMU accelerator; auto uses KVM when it really works here. */
  accel: "auto" | "kvm" | "tcg";
  /** Delete the machine's state directory when an attached machine ends (unless --keep; never detached). */
  rm: boolean;
  /** The libvirt connection URI (libvirt only; qemu:///system when absent). */
  connect?: string;
  /** Which settings the user left to kiln: the image may then choose (a Xen host needs pc and more memory). */
  defaulted?: { memory?: boolean; machine?: boolean };
}

/** Every NIC of a machine, in guest interface order (eth0 first). */
export function machineNets(spec: Pick<MachineSpec, "net" | "moreNets">): NetSpec[] {
  return [spec.net, ...(spec.moreNets ?? [])].filter((n) => n.kind !== "none");
}

export type MachineState = "created" | "running" | "exited";

export interface MachineStatus {
  name: string;
  backend: Backend;
  state: MachineState;
  image: string;
  /** The hypervisor process. */
  pid?: number;
  started?: string;
  ended?: string;
  /** The program's exit status (from `kiln: exit N`), when it reported one. */
  exitStatus?: number;
  /** Why an exited machine ended: the program exited, `kiln stop` stopped it, or it died on its own. */
  reason?: "exited" | "stopped" | "crashed";
  logFile: string;
  /** Host ports forwarded to the guest, for `kiln ps`. */
  ports?: string[];
  /** QMP socket (QEMU) for `kiln stop`. */
  control?: string;
  /** The libvirt URI whose host runs it (`kiln ps --connect`). */
  host?: string;
}

export interface ProbeResult {
  available: boolean;
  reason?: string;
  /** What to do about it. */
  hint?: string;
}

/** What launching a machine means for one backend: the command to run and the files it needs. */
export interface LaunchPlan {
  backend: Backend;
  command: string[];
  /** Files to write into the machine directory before running (relative name → content). */
  files: { name: string; content: string }[];
  warnings: string[];
  /** Whether the command detaches by itself (QEMU -daemonize) and writes its pid to `pidFile`. */
  daemonizes: boolean;
  /**
   * A detached machine whose command does not daemonize: launch starts it in a session of its own with
   * its output going to the console log (xl create -c, which ends when the domain does).
   */
  detachSelf?: boolean;
  /** The command signals readiness by writing to fd 3 (a pipe launch gives it). */
  readyFd?: boolean;
  pidFile?: string;
  control?: string;
}

/** Everything a driver needs to plan a launch. */
export interface PlanContext {
  spec: MachineSpec & { name: string };
  image: Image;
  /** The machine's state directory (may not exist yet for a dry run). */
  dir: string;
  /** The complete kernel command line. */
  cmdline: string;
  /** Initrd to boot: the baked one, or the baked one plus a configuration segment in `dir`. */
  initrd: string;
  accel?: "kvm" | "tcg";
  /** Console destination: the hypervisor's stdout (attached), or a file (QEMU detached). */
  consoleFile?: string;
  /** QEMU's control (QMP) socket. */
  control: string;
  dryRun: boolean;
}

/** What a driver needs to plan booting a launchable: no image, command line or initrd of kiln's making. */
export interface LaunchablePlanContext {
  spec: MachineSpec & { name: string; launchable: LaunchableMedium };
  dir: string;
  accel: "kvm" | "tcg";
  consoleFile?: string;
  control: string;
  dryRun: boolean;
}

/** What a driver's `create` and `started` hooks get. */
export interface StartedContext {
  name: string;
  dir: string;
  /** The launch-time boot configuration, when the driver delivers it itself (`configVia`). */
  config?: import("../manifest/bootConfig.js").BootConfig;
  /** Whether the plan's command is still running (a hook waiting on the machine gives up when not). */
  running(): boolean;
}

export interface Driver {
  readonly name: Backend;
  /**
   * "xenstore": the driver hands the launch-time configuration to the guest itself (in `started`), so it
   * never goes on the kernel command line or into an initrd segment. Default: launch places it.
   */
  readonly configVia?: "xenstore";
  /**
   * Runs before anything is spawned, for a backend whose machine exists apart from the process kiln
   * follows (Xen: the domain is created paused and configured here); returns the command that then
   * follows the machine's console in place of the plan's. A failure leaves nothing behind.
   */
  create?(ctx: StartedContext): Promise<{ command: string[] }>;
  /**
   * Runs once that command has started (attached or detached). With `plan.readyFd`, `ready` resolves
   * when the command writes to its fd 3 (xenconsole: it follows the console, so unpausing loses nothing).
   * A failure stops the machine.
   */
  started?(ctx: StartedContext & { ready: Promise<void> }): Promise<void>;
  /** Whether this host can run the backend; never throws. */
  probe(): Promise<ProbeResult>;
  /** Kernel command line parameters the backend needs (console device, reboot behaviour, timers). */
  cmdlineFor(spec: MachineSpec, image: Image, accel: "kvm" | "tcg" | undefined): CmdlineParts;
  /** Guest device name of the n-th disk (0-based), as the guest kernel will call it. */
  diskDevice(index: number): string;
  /** Settings the user left to kiln that this backend chooses otherwise (libvirt: q35 for microvm). */
  adjust?(spec: MachineSpec): MachineSpec;
  /** Refuse (with a KilnError) what this backend cannot do, before anything runs; returns warnings. */
  check(spec: MachineSpec, image: Image, dryRun: boolean): string[];
  /** Room (bytes) the hypervisor itself takes on the kernel command line. */
  cmdlineReserve?(spec: MachineSpec, image: Image): number;
  plan(ctx: PlanContext): Promise<LaunchPlan>;
  /** Plan booting a launchable file through its firmware; absent when the backend cannot (xen, firecracker). */
  planLaunchable?(ctx: LaunchablePlanContext): Promise<LaunchPlan>;
  /** Exit status to report when the console had no `kiln: exit N` line, from the process's own status. */
  statusFromExit?(code: number | null, signal: NodeJS.Signals | null): number | undefined;
  /** Stop a running machine of this backend: gracefully, then by force. */
  stop(status: MachineStatus, dir: string, opts: { timeoutMs: number }): Promise<void>;
}
