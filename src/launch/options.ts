/**
 * Launch options as users write them (`-M 256`, `-p 8080:80/udp`, `-b disk.img,/data,ro`, `--net tap:tap0`)
 * turned into a MachineSpec. Shared by `kiln launch` and `kiln run`; every bad value is a usage error that
 * quotes it.
 */
import { resolve } from "node:path";
import { q, usageError } from "../core/errors.js";
import { accelRequest } from "./accel.js";
import {
  type DiskSpec,
  type GuestAddr,
  type LaunchableMedium,
  MACHINE_TYPES,
  type MachineSpec,
  type MachineType,
  type NetSpec,
  type PortForward,
  type ShareSpec,
  type SocketLink,
} from "./machine.js";
import { checkName } from "./state.js";

/** The raw option values (as commander collects them). */
export interface LaunchOptionValues {
  memory?: string;
  cpus?: string;
  env?: string[];
  disk?: string[];
  publish?: string[];
  share?: string[];
  /** One a NIC, in order: eth0, eth1... */
  net?: string[];
  machine?: string;
  detach?: boolean;
  interactive?: boolean;
  name?: string;
  gdb?: string;
  accel?: string;
  rm?: boolean;
  /** Keep an attached machine's state after it ends (it is removed by default). */
  keep?: boolean;
  /** Boot a launchable that can boot either way with UEFI (OVMF). */
  uefi?: boolean;
  /** An nftables ruleset to load instead of the image's (QEMU; the image must carry nft). */
  firewall?: string;
  /** After an attached run, where its time went (kiln-init's timings and the console's arrival times). */
  timeline?: boolean;
  /** Run the main program as this user: NAME or UID, optionally :GROUP or :GID. */
  user?: string;
  /** The libvirt connection URI (kiln launch libvirt --connect). */
  connect?: string;
  /** Boot from the kernel up rather than from a saved boot state. */
  cold?: boolean;
}

/** For what says nothing of its needs (a launchable, a kernel older than boot protocol 2.10); see imageMemory.ts. */
export const DEFAULT_MEMORY_MB = 128;

/** Where a port forward listens when -p names no address. */
export const LOOPBACK = "127.0.0.1";

export function parseMemory(s: string): number {
  const m = /^(\d+)\s*([MG])?(?:i?B)?$/i.exec(s.trim());
  const n = m ? Number(m[1]) * (m[2]?.toUpperCase() === "G" ? 1024 : 1) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 16 || n > 1024 * 1024) {
    throw usageError(
      "KILN_EBAD_MEMORY",
      `Cannot give a machine ${q(s)} of memory`,
      "Give megabytes from 16 up, like -M 256 (or -M 1G).",
    );
  }
  return n;
}

export function parseCpus(s: string): number {
  const n = /^\d+$/.test(s.trim()) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 255) {
    throw usageError("KILN_EBAD_CPUS", `Cannot give a machine ${q(s)} CPUs`, "Give a count from 1 to 255.");
  }
  return n;
}

function parsePort(s: string, what: string, whole: string): number {
  const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw usageError(
      "KILN_EBAD_PORT",
      `Cannot parse ${what} port ${q(s)} in ${q(whole)}`,
      "Ports are numbers from 1 to 65535: -p 8080:80, -p 127.0.0.1:8080:80, -p 5353:53/udp.",
    );
  }
  return n;
}

/** HOST:GUEST, ADDR:HOST:GUEST, with /tcp or /udp. */
export function parsePublish(s: string): PortForward {
  const m = /^(?:(.+):)?([^:/]+):([^:/]+)(?:\/(tcp|udp))?$/i.exec(s.trim());
  if (!m) {
    throw usageError(
      "KILN_EBAD_PORT",
      `Cannot parse port forward ${q(s)}`,
      "Write HOST:GUEST[/udp], optionally with a host address first: -p 127.0.0.1:8080:80.",
    );
  }
  let hostAddr = m[1];
  if (hostAddr?.startsWith("[") && hostAddr.endsWith("]")) hostAddr = hostAddr.slice(1, -1);
  if (hostAddr !== undefined && !/^\d+\.\d+\.\d+\.\d+$/.test(hostAddr)) {
    throw usageError(
      "KILN_EBAD_PORT",
      `Cannot forward from host address ${q(hostAddr)} in ${q(s)}`,
      "QEMU user networking listens on IPv4 addresses: give one like 127.0.0.1.",
    );
  }
  return {
    proto: (m[4]?.toLowerCase() as "tcp" | "udp" | undefined) ?? "tcp",
    host: parsePort(m[2]!, "host", s),
    guest: parsePort(m[3]!, "guest", s),
    // Only this host reaches a forward unless the user names an address: -p 0.0.0.0:8080:80 for all.
    hostAddr: hostAddr ?? LOOPBACK,
  };
}

export function parseEnv(s: string): [string, string] {
  const i = s.indexOf("=");
  const k = i < 0 ? s : s.slice(0, i);
  if (i < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
    throw usageError(
      "KILN_EBAD_ENV",
      `Cannot parse environment setting ${q(s)}`,
      "Write NAME=VALUE, with a name of letters, digits and _: -e PORT=8080.",
    );
  }
  return [k, s.slice(i + 1)];
}

/** FILE[,MOUNT][,ro][,fs=TYPE] */
export function parseDisk(s: string, cwd = process.cwd()): DiskSpec {
  const [file, ...rest] = s.split(",");
  if (!file) {
    throw usageError("KILN_EBAD_DISK", `Cannot parse disk ${q(s)}`, "Write -b FILE[,/MOUNT][,ro][,fs=TYPE].");
  }
  const d: DiskSpec = { file: resolve(cwd, file), ro: false };
  for (const part of rest) {
    if (part === "ro") d.ro = true;
    else if (part === "rw") d.ro = false;
    else if (part.startsWith("fs=") && /^[a-z0-9]+$/.test(part.slice(3))) d.fs = part.slice(3);
    else if (part.startsWith("/") && d.mount === undefined) d.mount = part;
    else {
      throw usageError(
        "KILN_EBAD_DISK",
        `Cannot parse ${q(part)} in disk ${q(s)}`,
        "Write -b FILE[,/MOUNT][,ro][,fs=TYPE]: the mount point is an absolute path in the guest.",
      );
    }
  }
  return d;
}

/** HOST:/MOUNT[:ro] */
export function parseShare(s: string, cwd = process.cwd()): ShareSpec {
  const m = /^(.+?):(\/[^:]*)((?::(?:ro|rw|cache))*)$/.exec(s);
  if (!m) {
    throw usageError(
      "KILN_EBAD_SHARE",
      `Cannot parse share ${q(s)}`,
      "Write --share HOSTDIR:/MOUNT[:ro][:cache] (cache: the guest caches the files, for shares the host does not change meanwhile).",
    );
  }
  const flags = m[3]!.split(":").filter(Boolean);
  return {
    host: resolve(cwd, m[1]!),
    mount: m[2]!,
    ro: flags.includes("ro"),
    ...(flags.includes("cache") ? { cache: true } : {}),
  };
}

const NET_HINT =
  "Use --net user, --net none, --net tap:tap0, --net bridge:br0, (libvirt) --net network:NAME, or a link between machines: --net socket:listen=127.0.0.1:9000 (and socket:connect=127.0.0.1:9000 on the other), or --net socket:mcast=230.0.0.1:9000 on each; add ,ip=10.0.0.2/24|dhcp|none,gw=10.0.0.1,mtu=1400,mac=52:54:00:12:34:56. Repeat --net for eth1, eth2...";

/**
 * One NIC: user | none | tap:NAME[,OPTS] | bridge:NAME[,OPTS] | network:NAME[,OPTS] (libvirt) | socket:(listen|connect|mcast)=ADDR:PORT[,local=ADDR][,OPTS],
 * OPTS being ip=CIDR|dhcp|none, gw=IP, mac=MAC, mtu=N.
 */
export function parseNet(s: string): NetSpec {
  if (s === "user") return { kind: "user", forwards: [] };
  if (s === "none") return { kind: "none" };
  const m = /^(tap|bridge|socket|network):([^,]+)((?:,[^,]+)*)$/.exec(s);
  const bad = (what: string) => usageError("KILN_EBAD_NET", what, NET_HINT);
  if (!m) throw bad(`Cannot parse network ${q(s)}`);
  let link: SocketLink | undefined;
  if (m[1] === "socket") {
    const l = /^(listen|connect|mcast)=(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(m[2]!);
    if (!l) throw bad(`Cannot parse socket link ${q(m[2])} in network ${q(s)}`);
    parsePort(l[3]!, "link", s);
    link = { mode: l[1] as SocketLink["mode"], addr: `${l[2]}:${l[3]}` };
  } else if (
    // Interface names are at most 15 bytes (IFNAMSIZ); a libvirt network's name is longer at will.
    !(m[1] === "network" ? /^[A-Za-z0-9_.-]{1,64}$/ : /^[A-Za-z0-9_.-]{1,15}$/).test(m[2]!)
  ) {
    throw bad(`Cannot parse network ${q(s)}`);
  }
  const extra: GuestAddr = {};
  for (const part of (m[3] ?? "").split(",").filter(Boolean)) {
    const [k, val = ""] = part.split("=", 2) as [string, string?];
    if (k === "ip" && (/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(val) || val === "dhcp" || val === "none"))
      extra.addr = val;
    else if (k === "gw" && /^\d+\.\d+\.\d+\.\d+$/.test(val)) extra.gw = val;
    else if (k === "mac" && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(val)) extra.mac = val;
    else if (k === "mtu" && /^\d+$/.test(val) && Number(val) >= 68 && Number(val) <= 65535)
      extra.mtu = Number(val);
    else if (k === "local" && link?.mode === "mcast" && /^\d+\.\d+\.\d+\.\d+$/.test(val)) link.local = val;
    else {
      throw usageError(
        "KILN_EBAD_NET",
        `Cannot parse ${q(part)} in network ${q(s)}`,
        "Options are ip=CIDR (10.0.0.2/24) or ip=dhcp or ip=none, gw=ADDRESS, mac=52:54:00:12:34:56, mtu=68..65535 (and local=ADDRESS for socket:mcast=).",
      );
    }
  }
  if (extra.gw && !extra.addr?.includes("/")) {
    throw bad(`Cannot use gw=${extra.gw} without a static address in network ${q(s)}: add ip=CIDR`);
  }
  if (link) return { kind: "socket", link, ...extra };
  if (m[1] === "network") return { kind: "network", network: m[2]!, ...extra };
  return m[1] === "tap"
    ? { kind: "tap", ifname: m[2]!, ...extra }
    : { kind: "bridge", bridge: m[2]!, ...extra };
}

export function specFromOptions(
  image: string,
  args: string[] | undefined,
  o: LaunchOptionValues,
  env: NodeJS.ProcessEnv = process.env,
): MachineSpec {
  if (o.detach && o.interactive) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      "Cannot use -d (detached) with -i (console input): a detached machine has no terminal",
      "Drop one of them; `kiln logs -f NAME` follows a detached machine's console.",
    );
  }
  if (o.keep && o.rm) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      "Cannot use --keep with --rm: one keeps the machine's state after it ends, the other removes it",
      "Drop one of them (a foreground machine is removed when it ends unless --keep is given).",
    );
  }
  if (o.detach && o.rm) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      "Cannot use -d with --rm: a detached machine is removed with `kiln rm`",
      "Drop --rm.",
    );
  }
  const forwards = (o.publish ?? []).map(parsePublish);
  const seen = new Map<string, string>();
  for (const [n, f] of forwards.entries()) {
    const key = `${f.proto}:${f.host}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      throw usageError(
        "KILN_EOPTION_CONFLICT",
        `Cannot forward host port ${q(`${f.host}/${f.proto}`)} twice (${q(prev)} and ${q(o.publish![n]!)})`,
        "Give each -p its own host port.",
      );
    }
    seen.set(key, o.publish![n]!);
  }
  const nets = (o.net ?? []).map(parseNet);
  if (nets.length > 1 && nets.some((n) => n.kind === "none")) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `Cannot use --net none with other networks (${(o.net ?? []).map((n) => q(n)).join(", ")})`,
      "Drop --net none: a machine with other --net options has those NICs and no others.",
    );
  }
  if (nets.length === 0) nets.push(forwards.length > 0 ? { kind: "user", forwards: [] } : { kind: "none" });
  if (forwards.length > 0) {
    // Forwards go to the first user-mode network: the only one the host reaches through QEMU.
    const user = nets.findIndex((n) => n.kind === "user");
    if (user < 0) {
      throw usageError(
        "KILN_EOPTION_CONFLICT",
        `Cannot use -p with --net ${(o.net ?? []).map((n) => q(n)).join(" --net ")}: port forwards are a feature of user-mode networking`,
        "Drop --net (or add --net user) to forward ports; on a tap or bridge, reach the guest's own address.",
      );
    }
    nets[user] = { kind: "user", forwards };
  }
  const [net, ...moreNets] = nets as [NetSpec, ...NetSpec[]];
  const gdbPort = o.gdb !== undefined ? parsePort(o.gdb, "gdb", o.gdb) : undefined;
  if (gdbPort !== undefined && forwards.some((f) => f.proto === "tcp" && f.host === gdbPort)) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `Cannot use host port ${q(gdbPort)} for both gdb and a port forward`,
      "Give -D another port.",
    );
  }
  const machine = o.machine ?? "microvm";
  if (!(MACHINE_TYPES as readonly string[]).includes(machine)) {
    throw usageError(
      "KILN_EBAD_MACHINE",
      `Cannot use machine type ${q(machine)}`,
      `Use one of: ${MACHINE_TYPES.join(", ")}.`,
    );
  }
  const envVars: Record<string, string> = {};
  for (const e of o.env ?? []) {
    const [k, val] = parseEnv(e);
    envVars[k] = val;
  }
  return {
    image: resolve(image),
    ...(o.name !== undefined ? { name: checkName(o.name) } : {}),
    memoryMB: o.memory !== undefined ? parseMemory(o.memory) : DEFAULT_MEMORY_MB,
    cpus: o.cpus !== undefined ? parseCpus(o.cpus) : 1,
    machine: machine as MachineType,
    ...(o.memory === undefined || o.machine === undefined
      ? {
          defaulted: {
            ...(o.memory === undefined ? { memory: true } : {}),
            ...(o.machine === undefined ? { machine: true } : {}),
          },
        }
      : {}),
    net,
    ...(moreNets.length > 0 ? { moreNets } : {}),
    ...(o.firewall !== undefined ? { firewall: resolve(o.firewall) } : {}),
    disks: (o.disk ?? []).map((d) => parseDisk(d)),
    shares: (o.share ?? []).map((s) => parseShare(s)),
    env: envVars,
    ...(args !== undefined ? { args } : {}),
    ...(o.user !== undefined ? { user: o.user } : {}),
    console: o.detach ? "detached" : "attached",
    interactive: o.interactive ?? false,
    ...(gdbPort !== undefined ? { gdbPort } : {}),
    ...(o.cold ? { cold: true } : {}),
    accel: accelRequest(o.accel ?? env.KILN_ACCEL),
    // A foreground run leaves nothing behind unless asked to; a detached machine stays until `kiln rm`.
    rm: !o.detach && !o.keep,
    ...(o.connect !== undefined ? { connect: o.connect } : {}),
  };
}

/**
 * Make `spec` boot the launchable file `medium` describes. The medium names its machine type (pc for BIOS,
 * q35 for OVMF); --machine pc or q35 replaces it, while microvm, having no firmware to boot a disk from, is refused.
 */
export function launchableSpec(
  spec: MachineSpec,
  medium: LaunchableMedium,
  o: LaunchOptionValues,
): MachineSpec {
  const at = medium.args.indexOf("-M");
  let args = medium.args;
  if (o.machine !== undefined) {
    if (o.machine === "microvm") {
      throw usageError(
        "KILN_EOPTION_CONFLICT",
        `Cannot boot launchable ${q(spec.image)} on machine type ${q(o.machine)}: microvm has no firmware that boots a disk`,
        "Drop --machine (kiln picks pc for BIOS, q35 for UEFI), or give --machine pc or q35.",
      );
    }
    if (at >= 0) args = [...args.slice(0, at + 1), o.machine, ...args.slice(at + 2)];
  }
  if (o.uefi && medium.firmware === undefined) {
    throw usageError(
      "KILN_ELAUNCHABLE_NO_UEFI",
      `Cannot boot launchable ${q(spec.image)} with UEFI: it is a ${medium.kind} disk, which boots with BIOS only`,
      "Drop --uefi, or make a disk that boots both ways: kiln image raw IMAGE (or raw-uefi for UEFI only).",
    );
  }
  const machine = at >= 0 ? args[at + 1] : undefined;
  return {
    ...spec,
    launchable: { ...medium, args },
    machine: (MACHINE_TYPES as readonly string[]).includes(machine ?? "") ? (machine as MachineType) : "pc",
  };
}
