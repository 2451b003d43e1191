/**
 * The boot configuration kiln-init reads, version 1, and the one check of it on the host. Sources, merged key
 * by key, later wins: /kiln/image.json (baked), `kiln.config=` on the kernel command line (base64url JSON, no
 * padding), the domain's xenstore key kiln/config under Xen (with `kiln.xs=1`; see guest/README.md for its
 * chunks), /kiln/config.json (an initrd segment the launcher appends for large configs); "env" merges by name.
 * rc entries run in array order (setup to completion, bg started and, with `ready`, awaited); main starts last.
 *
 * bootConfigProblem() makes every check kiln-init makes (guest/config.c for the schema, guest/json.c and
 * guest/json.h for the document's size, value count and depth, guest/config.h for the counts), with the
 * guest's words, so that bake and launch refuse on the host what would otherwise stop the VM after it booted
 * (or, for a document too large for the VM's memory, never let it boot). A limit changed there changes here.
 */

export interface RcEntry {
  bin: string;
  argv?: string[];
  mode?: "main" | "bg" | "setup";
  /** A bg program only: an absolute path that exists once it is ready; kiln-init waits for it. */
  ready?: string;
  /** How long kiln-init waits for `ready`; default 30000. */
  ready_timeout_ms?: number;
  /**
   * In a Xen Linux stub domain: libxl's device model arguments (xenstore `<vm>/image/dm-argv`) follow argv.
   * At most one entry; guest/README.md, "Xen stub domains".
   */
  argv_xen_dm?: boolean;
  /** Run as this user (kiln-init drops root for the program: groups, then gid, then uid). */
  uid?: number;
  /** The program's group; default: the uid's number. */
  gid?: number;
}

export interface NetEntry {
  if: string;
  addr?: string;
  /** Address, netmask, router, DNS and MTU from a DHCP server (kiln-init's client); not with addr. */
  dhcp?: boolean;
  gw?: string;
  dns?: string[];
  mtu?: number;
}

export interface BlkEntry {
  dev: string;
  /** ext4 when absent. */
  fs?: string;
  mount: string;
  ro?: boolean;
  /** 9p only: the guest caches names and data (fast; changes the host makes meanwhile may not show). */
  cache?: boolean;
}

export interface BootConfig {
  v: 1;
  hostname?: string;
  env?: Record<string, string>;
  rc?: RcEntry[];
  net?: NetEntry[];
  blk?: BlkEntry[];
  sysctl?: Record<string, string>;
  routes?: { dst: string; via: string }[];
  cwd?: string;
}

/** guest/json.h and guest/config.h. */
export const GUEST_LIMITS = {
  /** JSON_MAX_INPUT: bytes of one source (a file's trailing newline included). */
  input: 64 * 1024,
  /** JSON_MAX_NODES: values in one source. */
  nodes: 4096,
  /** JSON_MAX_DEPTH: nested arrays and objects. */
  depth: 16,
  rc: 16,
  args: 64,
  /** KILN_MAX_ENV: variables in the merged environment, kiln-init's PATH and HOME included. */
  env: 128,
  net: 8,
  dns: 4,
  blk: 8,
  sysctl: 64,
  routes: 32,
  ifname: 15,
  hostname: 64,
  path: 4095,
  /** KILN_READY_TIMEOUT_MAX_MS */
  readyTimeoutMs: 3_600_000,
  /** KILN_ID_MAX: a uid or gid (2^32-1 is "no change" to setuid(2)). */
  id: 4_294_967_294,
} as const;

/** config_init(): what every guest environment starts from. */
const DEFAULT_ENV = ["PATH", "HOME"];

export interface ConfigProblem {
  /** The key path as kiln-init prints it (rc[0].argv); "" for the document. */
  path: string;
  message: string;
}

/** Encode a config for the kernel command line: base64url without padding, so it is one token. */
export function encodeCmdlineConfig(cfg: BootConfig): string {
  return Buffer.from(JSON.stringify(cfg)).toString("base64url");
}

/** The bytes kiln writes for a source: the JSON and a newline. */
export function configBytes(cfg: unknown): number {
  return Buffer.byteLength(`${JSON.stringify(cfg)}\n`);
}

class Bad extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

/** JSON_PATH_MAX: kiln-init's key paths stop at 159 bytes, cut visibly. */
const PATH_MAX = 160;

/** json_quote(): printable ASCII kept, quotes and backslashes escaped, other bytes as \xHH, cut with "...". */
function quote(s: string, cap: number): string {
  let out = '"';
  for (const c of Buffer.from(s)) {
    const e =
      c === 0x22 || c === 0x5c
        ? `\\${String.fromCharCode(c)}`
        : c >= 0x20 && c < 0x7f
          ? String.fromCharCode(c)
          : `\\x${c.toString(16).padStart(2, "0")}`;
    if (out.length + e.length + 5 > cap) {
      out += "...";
      break;
    }
    out += e;
  }
  return `${out}"`;
}

/** json_path_key(): plain names after a dot, anything else quoted in brackets. */
function key(path: string, k: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(k)) return path ? `${path}.${k}` : k;
  return `${path}[${quote(k, PATH_MAX)}]`;
}

/** The path as kiln-init's fixed buffer holds it. */
function cut(path: string): string {
  return path.length < PATH_MAX ? path : `${path.slice(0, PATH_MAX - 4)}...`;
}

function kind(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  if (typeof v === "string") return "a string";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v;
}

/** guest/json.c takes strict UTF-8: a lone surrogate (JSON.stringify writes it as \ud800) is refused. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The document limits of guest/json.c: value count and nesting depth (its size is checked as bytes). */
function walkDocument(v: unknown, at: string, depth: number, count: { n: number }): void {
  if (++count.n > GUEST_LIMITS.nodes) throw new Bad(at, `too many values (limit ${GUEST_LIMITS.nodes})`);
  if (typeof v !== "object" || v === null) {
    if (typeof v === "string" && LONE_SURROGATE.test(v))
      throw new Bad(at, "must be valid Unicode text (it holds a lone surrogate)");
    return;
  }
  if (depth >= GUEST_LIMITS.depth) throw new Bad(at, `nested too deeply (limit ${GUEST_LIMITS.depth})`);
  if (Array.isArray(v)) for (const [i, e] of v.entries()) walkDocument(e, `${at}[${i}]`, depth + 1, count);
  else
    for (const [k, e] of Object.entries(v)) {
      if (LONE_SURROGATE.test(k)) throw new Bad(key(at, k), "a key must be valid Unicode text");
      walkDocument(e, key(at, k), depth + 1, count);
    }
}

/** Checks in the order and words of guest/config.c. */
class Checker {
  private str(v: unknown, at: string): string {
    if (typeof v !== "string") throw new Bad(at, `must be a string, not ${kind(v)}`);
    if (v.includes("\0")) throw new Bad(at, "must not contain a NUL character (\\u0000)");
    return v;
  }

  private nonempty(v: unknown, at: string): string {
    const s = this.str(v, at);
    if (!s) throw new Bad(at, "must not be empty");
    return s;
  }

  private absPath(v: unknown, at: string): string {
    const s = this.str(v, at);
    if (!s.startsWith("/"))
      throw new Bad(at, `${JSON.stringify(s)} is not an absolute path (it must start with "/")`);
    if (Buffer.byteLength(s) > GUEST_LIMITS.path)
      throw new Bad(at, `path is longer than ${GUEST_LIMITS.path} bytes`);
    return s;
  }

  private obj(v: unknown, at: string, what: string): Record<string, unknown> {
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new Bad(at, `must be ${what}, not ${kind(v)}`);
    return v as Record<string, unknown>;
  }

  private arr(v: unknown, at: string, what: string, limit: number, many: string): unknown[] {
    if (!Array.isArray(v)) throw new Bad(at, `must be ${what}, not ${kind(v)}`);
    if (v.length > limit) throw new Bad(at, `too many ${many} (limit ${limit})`);
    return v;
  }

  private keys(o: Record<string, unknown>, at: string, known: readonly string[]): void {
    for (const k of Object.keys(o))
      if (!known.includes(k)) throw new Bad(key(at, k), `unknown key (known keys here: ${known.join(", ")})`);
  }

  private bool(v: unknown, at: string): boolean {
    if (typeof v !== "boolean") throw new Bad(at, `must be a boolean, not ${kind(v)}`);
    return v;
  }

  private ipv4(v: unknown, at: string): number {
    const s = this.str(v, at);
    const n = parseIpv4(s);
    if (n === undefined) throw new Bad(at, `${JSON.stringify(s)} is not an IPv4 address like "10.0.2.2"`);
    return n;
  }

  private cidr(v: unknown, at: string): { addr: number; prefix: number } {
    const s = this.str(v, at);
    const c = parseCidr(s);
    if (!c)
      throw new Bad(
        at,
        `${JSON.stringify(s)} is not an IPv4 address with a prefix length like "10.0.2.15/24"`,
      );
    return c;
  }

  check(cfg: unknown): void {
    if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg))
      throw new Bad("", `the configuration must be an object, not ${kind(cfg)}`);
    const o = cfg as Record<string, unknown>;
    if (!("v" in o)) throw new Bad("v", 'is missing: a boot configuration starts with {"v":1');
    if (typeof o.v !== "number" || !Number.isInteger(o.v))
      throw new Bad("v", `must be the integer 1, not ${typeof o.v === "number" ? String(o.v) : kind(o.v)}`);
    if (o.v !== 1)
      throw new Bad("v", `unsupported version ${o.v}: this kiln-init reads version 1 (use a matching kiln)`);
    const loaders: Record<string, (v: unknown, at: string) => void> = {
      hostname: (v, at) => this.hostname(v, at),
      env: (v, at) => this.env(v, at),
      rc: (v, at) => this.rc(v, at),
      net: (v, at) => this.net(v, at),
      blk: (v, at) => this.blk(v, at),
      sysctl: (v, at) => this.sysctl(v, at),
      routes: (v, at) => this.routes(v, at),
      cwd: (v, at) => this.absPath(v, at),
    };
    for (const [k, v] of Object.entries(o)) {
      if (k === "v") continue;
      const load = loaders[k];
      if (!load)
        throw new Bad(
          key("", k),
          "unknown key (version 1 knows v, hostname, env, rc, net, blk, sysctl, routes, cwd)",
        );
      load(v, key("", k));
    }
  }

  private hostname(v: unknown, at: string): void {
    const s = this.nonempty(v, at);
    if (Buffer.byteLength(s) > GUEST_LIMITS.hostname)
      throw new Bad(at, `${JSON.stringify(s)} is longer than ${GUEST_LIMITS.hostname} bytes`);
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(s))
      throw new Bad(at, `${JSON.stringify(s)} is not a host name (letters, digits, '-' and '.')`);
  }

  private env(v: unknown, at: string): void {
    const o = this.obj(v, at, "an object of strings");
    const names = new Set(DEFAULT_ENV);
    for (const [k, val] of Object.entries(o)) {
      const here = key(at, k);
      if (!k) throw new Bad(here, "a variable name must not be empty");
      if (k.includes("\0")) throw new Bad(here, "a variable name must not contain a NUL character");
      if (k.includes("=")) throw new Bad(here, "a variable name must not contain '='");
      this.str(val, here);
      names.add(k);
      // kiln-init's own PATH and HOME count: they are in the environment it builds.
      if (names.size > GUEST_LIMITS.env)
        throw new Bad(
          here,
          `too many variables (limit ${GUEST_LIMITS.env}, kiln-init's PATH and HOME included)`,
        );
    }
  }

  private rc(v: unknown, at: string): void {
    let main = -1;
    let dm = -1;
    this.arr(v, at, "an array of programs", GUEST_LIMITS.rc, "programs").forEach((e, i) => {
      const here = `${at}[${i}]`;
      const o = this.obj(e, here, 'an object like {"bin":"/bin/prog"}');
      this.keys(o, here, ["bin", "argv", "mode", "ready", "ready_timeout_ms", "argv_xen_dm", "uid", "gid"]);
      if (!("bin" in o))
        throw new Bad(`${here}.bin`, "is missing: name the program's absolute path in the image");
      const bin = this.absPath(o.bin, `${here}.bin`);
      if (bin.endsWith("/"))
        throw new Bad(`${here}.bin`, `${JSON.stringify(bin)} names a directory, not a program`);
      if ("argv" in o) {
        const argv = this.arr(o.argv, `${here}.argv`, "an array of strings", GUEST_LIMITS.args, "arguments");
        if (argv.length === 0)
          throw new Bad(`${here}.argv`, "must not be empty: argv[0] is the program's name");
        for (const [j, a] of argv.entries()) this.str(a, `${here}.argv[${j}]`);
      }
      let mode = "main";
      if ("mode" in o) {
        mode = this.str(o.mode, `${here}.mode`);
        if (mode !== "main" && mode !== "bg" && mode !== "setup")
          throw new Bad(`${here}.mode`, `${JSON.stringify(mode)} is not a mode: use "main", "bg" or "setup"`);
      }
      if (mode === "main") {
        if (main >= 0)
          throw new Bad(
            `${here}.mode`,
            `a second main program (rc[${main}] is main; "main" is the default): set "mode":"bg"`,
          );
        main = i;
      }
      if ("ready" in o) {
        if (mode !== "bg")
          throw new Bad(
            `${here}.ready`,
            'is for "bg" programs only (a setup program is awaited until it exits; main starts last)',
          );
        this.absPath(o.ready, `${here}.ready`);
      }
      if ("ready_timeout_ms" in o) {
        const at = `${here}.ready_timeout_ms`;
        if (!("ready" in o)) throw new Bad(at, 'needs "ready" on the same program');
        const ms = o.ready_timeout_ms;
        if (typeof ms !== "number") throw new Bad(at, `must be an integer, not ${kind(ms)}`);
        if (!Number.isInteger(ms) || ms < 1 || ms > GUEST_LIMITS.readyTimeoutMs)
          throw new Bad(at, `must be an integer from 1 to ${GUEST_LIMITS.readyTimeoutMs}, not ${ms}`);
      }
      if ("argv_xen_dm" in o && this.bool(o.argv_xen_dm, `${here}.argv_xen_dm`)) {
        if (dm >= 0)
          throw new Bad(
            `${here}.argv_xen_dm`,
            `a second device model (rc[${dm}] has "argv_xen_dm": true): libxl starts one`,
          );
        dm = i;
      }
      for (const k of ["uid", "gid"] as const) {
        if (!(k in o)) continue;
        const id = o[k];
        if (k === "gid" && !("uid" in o)) throw new Bad(`${here}.gid`, 'needs "uid" on the same program');
        if (typeof id !== "number") throw new Bad(`${here}.${k}`, `must be an integer, not ${kind(id)}`);
        if (!Number.isInteger(id) || id < 0 || id > GUEST_LIMITS.id)
          throw new Bad(`${here}.${k}`, `must be an integer from 0 to ${GUEST_LIMITS.id}, not ${id}`);
      }
    });
  }

  private net(v: unknown, at: string): void {
    const names: string[] = [];
    this.arr(v, at, "an array of interfaces", GUEST_LIMITS.net, "interfaces").forEach((e, i) => {
      const here = `${at}[${i}]`;
      const o = this.obj(e, here, 'an object like {"if":"eth0"}');
      this.keys(o, here, ["if", "addr", "dhcp", "gw", "dns", "mtu"]);
      if (!("if" in o)) throw new Bad(`${here}.if`, 'is missing: name the interface, like "eth0"');
      const name = this.str(o.if, `${here}.if`);
      const bytes = Buffer.byteLength(name);
      // ifname_ok(): 1-15 bytes, not "." or "..", no '/', ':', space, control or non-ASCII byte.
      if (
        !bytes ||
        bytes > GUEST_LIMITS.ifname ||
        name === "." ||
        name === ".." ||
        !/^[!-9;-~]+$/.test(name) ||
        name.includes("/")
      )
        throw new Bad(
          `${here}.if`,
          `${JSON.stringify(name)} is not an interface name (1-15 characters, no '/')`,
        );
      const twice = names.indexOf(name);
      if (twice >= 0)
        throw new Bad(`${here}.if`, `${JSON.stringify(name)} is configured twice (net[${twice}])`);
      names.push(name);
      if ("addr" in o) this.cidr(o.addr, `${here}.addr`);
      if ("dhcp" in o && this.bool(o.dhcp, `${here}.dhcp`) && "addr" in o)
        throw new Bad(
          `${here}.dhcp`,
          'cannot be true with "addr": the address comes from DHCP or from "addr", not both',
        );
      if ("gw" in o) {
        this.ipv4(o.gw, `${here}.gw`);
        if (!("addr" in o)) throw new Bad(`${here}.gw`, 'needs "addr" on the same interface');
      }
      if ("dns" in o) {
        const dns = this.arr(o.dns, `${here}.dns`, "an array of IPv4 addresses", GUEST_LIMITS.dns, "servers");
        for (const [j, a] of dns.entries()) this.ipv4(a, `${here}.dns[${j}]`);
      }
      if ("mtu" in o) {
        const m = o.mtu;
        if (typeof m !== "number") throw new Bad(`${here}.mtu`, `must be an integer, not ${kind(m)}`);
        if (!Number.isInteger(m) || m < 68 || m > 65535)
          throw new Bad(`${here}.mtu`, `must be an integer from 68 to 65535, not ${m}`);
      }
    });
  }

  private blk(v: unknown, at: string): void {
    this.arr(v, at, "an array of block devices", GUEST_LIMITS.blk, "block devices").forEach((e, i) => {
      const here = `${at}[${i}]`;
      const o = this.obj(e, here, 'an object like {"dev":"vdb","mount":"/data"}');
      this.keys(o, here, ["dev", "fs", "mount", "ro", "cache"]);
      if (!("dev" in o)) throw new Bad(`${here}.dev`, 'is missing: name the device under /dev, like "vdb"');
      const dev = this.nonempty(o.dev, `${here}.dev`);
      if (dev.includes("/") || dev === "." || dev === ".." || Buffer.byteLength(dev) > 64)
        throw new Bad(
          `${here}.dev`,
          `${JSON.stringify(dev)} is not a device name under /dev (like "vdb", without "/dev/")`,
        );
      if ("fs" in o) {
        const fs = this.nonempty(o.fs, `${here}.fs`);
        if (!/^[a-z0-9_.]{1,32}$/.test(fs))
          throw new Bad(`${here}.fs`, `${JSON.stringify(fs)} is not a file system type like "ext4"`);
      }
      if (!("mount" in o)) throw new Bad(`${here}.mount`, 'is missing: name the mount point, like "/data"');
      if (this.absPath(o.mount, `${here}.mount`) === "/")
        throw new Bad(`${here}.mount`, 'cannot mount over "/": choose a directory like "/data"');
      if ("ro" in o) this.bool(o.ro, `${here}.ro`);
      if ("cache" in o && this.bool(o.cache, `${here}.cache`) && (o.fs ?? "ext4") !== "9p")
        throw new Bad(`${here}.cache`, `is for 9p shares only, not ${JSON.stringify(o.fs ?? "ext4")}`);
    });
  }

  private sysctl(v: unknown, at: string): void {
    const o = this.obj(v, at, "an object of strings");
    if (Object.keys(o).length > GUEST_LIMITS.sysctl)
      throw new Bad(at, `too many settings (limit ${GUEST_LIMITS.sysctl})`);
    for (const [k, val] of Object.entries(o)) {
      const here = key(at, k);
      if (k.includes("\0") || !sysctlKeyOk(k) || Buffer.byteLength(k) > 200)
        throw new Bad(here, `${JSON.stringify(k)} is not a sysctl name like "net.ipv4.ip_forward"`);
      this.str(val, here);
    }
  }

  private routes(v: unknown, at: string): void {
    this.arr(v, at, "an array of routes", GUEST_LIMITS.routes, "routes").forEach((e, i) => {
      const here = `${at}[${i}]`;
      const o = this.obj(e, here, 'an object like {"dst":"10.1.0.0/16","via":"10.0.2.2"}');
      this.keys(o, here, ["dst", "via"]);
      if (!("dst" in o)) throw new Bad(`${here}.dst`, 'is missing: give a network like "10.1.0.0/16"');
      if (o.dst !== "default") {
        const { addr, prefix } = this.cidr(o.dst, `${here}.dst`);
        const mask = prefix ? (0xffffffff << (32 - prefix)) >>> 0 : 0;
        if ((addr & ~mask) >>> 0)
          throw new Bad(
            `${here}.dst`,
            `${JSON.stringify(o.dst)} has host bits set beyond the /${prefix} prefix`,
          );
      }
      if (!("via" in o)) throw new Bad(`${here}.via`, "is missing: give the gateway's address");
      this.ipv4(o.via, `${here}.via`);
    });
  }
}

/** config_parse_ipv4(): a strict dotted quad, no leading zeros (octal to some parsers). */
function parseIpv4(s: string): number | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + p, 0);
}

function parseCidr(s: string): { addr: number; prefix: number } | undefined {
  const m = /^([^/]{1,15})\/(0|[1-9]\d?)$/.exec(s);
  const addr = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : Number.NaN;
  return addr === undefined || prefix > 32 ? undefined : { addr, prefix };
}

/** sysctl_key_ok(): dotted or slashed segments of [A-Za-z0-9_-.], none empty, "." or "..". */
function sysctlKeyOk(k: string): boolean {
  if (!/^[A-Za-z0-9_./-]+$/.test(k)) return false;
  return k.split(k.includes("/") ? "/" : ".").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/**
 * The first thing kiln-init would refuse in `cfg` as one source (the document, then its schema), or
 * undefined. The environment's limit counts kiln-init's PATH and HOME, so give a source's merged env.
 */
export function bootConfigProblem(cfg: unknown): ConfigProblem | undefined {
  try {
    if (cfg === undefined) throw new Bad("", "the configuration must be an object, not nothing");
    const bytes = configBytes(cfg);
    if (bytes > GUEST_LIMITS.input)
      throw new Bad("", `it is ${bytes} bytes of JSON, more than the ${GUEST_LIMITS.input} kiln-init reads`);
    // What the guest gets is the JSON text: check that (undefined members gone, NaN as null).
    const sent: unknown = JSON.parse(JSON.stringify(cfg));
    walkDocument(sent, "", 0, { n: 0 });
    new Checker().check(sent);
    return undefined;
  } catch (e) {
    if (e instanceof Bad) return { path: cut(e.at), message: e.message };
    throw e;
  }
}

/** "key "rc[0].argv": must not be empty", as kiln-init says it. */
export function describeProblem(p: ConfigProblem): string {
  return p.path ? `key ${JSON.stringify(p.path)}: ${p.message}` : p.message;
}
