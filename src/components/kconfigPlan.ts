// Planning a specialized kernel's .config: what kiln adds to tinyconfig (BASE_*), the choices it makes, the
// request key of the build cache, and why a requested symbol ended up off. Pure functions: building and
// caching the kernel is specialized.ts.
import { sha256 } from "../core/digest.js";
import { q, usageError } from "../core/errors.js";
import { KERNEL_SOURCE_PACKAGE } from "./kernelSource.js";

/**
 * What every kiln image needs on top of tinyconfig: a 64-bit kernel that boots by PVH or bzImage, talks on
 * the 8250 serial console, unpacks kiln's uncompressed cpio initrd, and gives a static musl program and
 * kiln-init the system calls they use (futex, epoll, signalfd/timerfd/eventfd, shared memory, file locks,
 * POSIX timers, uid/gid calls, madvise, membarrier, ioperm for isa-debug-exit, sockets for loopback and
 * interface ioctls). Everything is built in: specialized kernels have no modules.
 */
export const BASE_SYMBOLS: string[] = [
  "64BIT",
  "PRINTK",
  "TTY",
  "SERIAL_8250",
  "SERIAL_8250_CONSOLE",
  "BLK_DEV_INITRD",
  "BINFMT_ELF",
  "BINFMT_SCRIPT",
  "PROC_FS",
  "SYSFS",
  "DEVTMPFS",
  "TMPFS",
  "SHMEM",
  "FUTEX",
  "EPOLL",
  "SIGNALFD",
  "TIMERFD",
  "EVENTFD",
  "FILE_LOCKING",
  "INOTIFY_USER",
  "POSIX_TIMERS",
  "MULTIUSER",
  "ADVISE_SYSCALLS",
  "MEMBARRIER",
  "X86_IOPL_IOPERM",
  "HYPERVISOR_GUEST",
  "PARAVIRT",
  "KVM_GUEST",
  "PVH",
  "NET",
  "UNIX",
  "INET",
];

/**
 * Options olddefconfig turns on by default that no kiln image needs; they cost size and boot time (the
 * i8042/keyboard probe, VGA console, IPv6, extra initrd decompressors). A requested symbol always wins:
 * it is never disabled, and when disabling stops a requested symbol from being enabled, the set is
 * configured again without these.
 */
export const BASE_DISABLED: string[] = [
  "VT",
  "VGA_CONSOLE",
  "INPUT",
  "SERIO",
  "HID",
  "IPV6",
  "WLAN",
  "WIRELESS",
  "INET_DIAG",
  // kiln's initrds are uncompressed cpio archives: no decompressor is needed for them.
  "RD_GZIP",
  "RD_BZIP2",
  "RD_LZMA",
  "RD_XZ",
  "RD_LZO",
  "RD_LZ4",
  "RD_ZSTD",
  "SERIAL_8250_EXAR",
  "SERIAL_8250_LPSS",
  "SERIAL_8250_MID",
  "SERIAL_8250_PERICOM",
  "LEGACY_PTYS",
  "X86_5LEVEL",
  "PCIEASPM",
  // Compiled in by default with PERF_EVENTS, which x86 always selects; a guest sees no uncore or power PMU.
  "PERF_EVENTS_INTEL_UNCORE",
  "PERF_EVENTS_INTEL_RAPL",
  "PERF_EVENTS_INTEL_CSTATE",
  "PERF_EVENTS_AMD_POWER",
  "PERF_EVENTS_AMD_UNCORE",
  "X86_INTEL_MEMORY_PROTECTION_KEYS",
  "AMD_NB",
  // Nothing in a kiln guest swaps, throttles on heat, enters idle states or talks ethtool over netlink.
  "SWAP",
  "THERMAL",
  "CPU_IDLE",
  "ETHTOOL_NETLINK",
  "PTP_1588_CLOCK",
  "SERIAL_8250_PCI",
  "HW_RANDOM_VIA",
  "MQ_IOSCHED_DEADLINE",
  "MQ_IOSCHED_KYBER",
  "RTC_NVMEM",
  "RTC_INTF_PROC",
  "RTC_SYSTOHC",
  "HPET_EMULATE_RTC",
  "PROC_PAGE_MONITOR",
  "DEBUG_KERNEL",
  "SCHED_DEBUG",
  // The vsyscall page is for pre-2013 glibc; musl and Debian 12's glibc use the vDSO.
  "X86_VSYSCALL_EMULATION",
];

/**
 * Values kiln sets for every image. PHYSICAL_START: load the kernel at 2 MB instead of 16 MB, so that the
 * image (about 12 MB in memory before its init sections are freed) fits in small guests: smallest -m went
 * from 32 MB to 18 MB in our measurements (no ISA DMA zone needs the low 16 MB here). LOG_BUF_SHIFT: a 16 KB
 * kernel log (with its index, about 0.5 MB less than the default 128 KB); boots are quiet.
 */
export const BASE_VALUES: Record<string, string> = {
  PHYSICAL_START: "0x200000",
  LOG_BUF_SHIFT: "14",
};

/**
 * Kconfig `choice` groups kiln decides: exactly one member is on, kiln's pick unless the request names
 * another. Images carry the bzImage and kiln's launchers start the ELF inside it by PVH (taken out once,
 * src/launch/directKernel.ts), so the compression is paid for in image size, not in boot time: xz makes the
 * smallest bzImage (microvm set: 1.40 MB, against 2.3 MB with LZ4). -Os with KCFLAGS below boots as fast as
 * -O2 and is ~0.3 MB smaller.
 */
export const CHOICES: { name: string; members: string[]; pick: string }[] = [
  {
    name: "kernel compression",
    members: [
      "KERNEL_GZIP",
      "KERNEL_BZIP2",
      "KERNEL_LZMA",
      "KERNEL_XZ",
      "KERNEL_LZO",
      "KERNEL_LZ4",
      "KERNEL_ZSTD",
    ],
    pick: "KERNEL_XZ",
  },
  {
    // Slice-by-8 tables are 16 KB that xz cannot shrink; byte-at-a-time CRC32 is fast enough for ext4's
    // metadata checksums (crc32c shares the implementation).
    name: "CRC32 implementation",
    members: ["CRC32_SLICEBY8", "CRC32_SLICEBY4", "CRC32_SARWATE", "CRC32_BIT"],
    pick: "CRC32_SARWATE",
  },
  {
    name: "compiler optimization",
    members: ["CC_OPTIMIZE_FOR_PERFORMANCE", "CC_OPTIMIZE_FOR_SIZE"],
    pick: "CC_OPTIMIZE_FOR_SIZE",
  },
];

/**
 * Extra compiler flags for every build (make's KCFLAGS; the source stays unmodified). Under -Os, GCC inlines
 * memset as `rep stosb`, which software emulation runs one byte per iteration: clearing the 1 MB .bss at boot
 * and poisoning the ~4 MB of init and alignment gaps it frees took ~0.1 s. Calling the kernel's own memset
 * instead: hello 0.26 -> 0.17 s under TCG, bzImage +4 KB.
 */
export const KCFLAGS = "-fno-builtin-memset";

/** Bumped when the way a .config is made changes, so that old request-index entries stop matching. */
export const PLAN_FORMAT = 2;

/** Symbols as given (with or without CONFIG_), checked, deduplicated and sorted. */
export function normalizeSymbols(symbols: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of symbols) {
    const s = raw.trim().replace(/^CONFIG_/, "");
    if (!/^[A-Za-z0-9_]+$/.test(s)) {
      throw usageError(
        "KILN_EKCONFIG_NAME",
        `Cannot use Kconfig symbol ${q(raw)}: not a symbol name`,
        "Name symbols as Kconfig does, letters, digits and '_', with or without CONFIG_ (e.g. VIRTIO_NET).",
      );
    }
    out.add(s);
  }
  return [...out].sort();
}

export interface ConfigPlan {
  /** Passed to scripts/config as -e, in this order. */
  enable: string[];
  /** Passed to scripts/config as -d. */
  disable: string[];
  /** Passed to scripts/config as --set-val. */
  values: [string, string][];
}

/** What to switch on and off in the tinyconfig .config for a (normalized) request. */
export function configPlan(symbols: readonly string[], opts: { withDisables?: boolean } = {}): ConfigPlan {
  const requested = new Set(symbols);
  const picks: string[] = [];
  const others: string[] = [];
  for (const c of CHOICES) {
    const asked = c.members.filter((m) => requested.has(m));
    if (asked.length > 1) {
      throw usageError(
        "KILN_EKCONFIG_CHOICE",
        `Cannot have two of the ${c.name} choice: ${asked.map((m) => q(m)).join(" and ")} are both requested`,
        `Request at most one of ${c.members.join(", ")}.`,
      );
    }
    const pick = asked[0] ?? c.pick;
    picks.push(pick);
    others.push(...c.members.filter((m) => m !== pick));
  }
  const enable = [...new Set([...BASE_SYMBOLS, ...symbols, ...picks])];
  const disable = [
    ...others,
    ...(opts.withDisables === false ? [] : BASE_DISABLED.filter((s) => !requested.has(s))),
  ];
  return { enable, disable, values: Object.entries(BASE_VALUES) };
}

/** The request-index key: the requested set plus everything kiln adds to it. */
export function requestKey(symbols: readonly string[]): string {
  return sha256(
    JSON.stringify({
      format: PLAN_FORMAT,
      source: KERNEL_SOURCE_PACKAGE,
      base: BASE_SYMBOLS,
      disabled: BASE_DISABLED,
      values: BASE_VALUES,
      choices: CHOICES,
      kcflags: KCFLAGS,
      symbols: normalizeSymbols(symbols),
    }),
  );
}

/** `CONFIG_X=value` lines of a .config ("is not set" lines are simply absent). */
export function parseDotConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const r = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (r?.[1]) m.set(r[1], r[2] ?? "");
  }
  return m;
}

/**
 * The cache key of a kernel: its exact source package, the flags kiln adds, and its final .config (which names
 * the compiler).
 */
export function configHashOf(sourceVersion: string, configText: string): string {
  return sha256(`${KERNEL_SOURCE_PACKAGE} ${sourceVersion}\nKCFLAGS=${KCFLAGS}\n${configText}`);
}

/**
 * Why a symbol is off, from its Kconfig entry: the `if` blocks around it in its file, its `depends on`
 * lines, and whether it has a prompt at all (a symbol without one is set only by another option's `select`).
 */
export function explainOff(kconfigText: string, line: number, values: Map<string, string>): string {
  const lines = kconfigText.split("\n");
  const conds: string[] = [];
  const ifs: string[] = [];
  for (let i = 0; i < line - 1 && i < lines.length; i++) {
    const l = lines[i] ?? "";
    const m = /^\s*if\s+(.+?)\s*(#.*)?$/.exec(l);
    if (m?.[1]) ifs.push(m[1]);
    else if (/^\s*endif\b/.test(l)) ifs.pop();
  }
  conds.push(...ifs);
  let prompt = false;
  for (let i = line; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (/^\s*(config|menuconfig|choice|endchoice|menu|endmenu|if|endif|source|comment)\b/.test(l)) break;
    if (/^\s*(bool|tristate|string|int|hex)\s+"/.test(l) || /^\s*prompt\s+"/.test(l)) prompt = true;
    const d = /^\s*depends\s+on\s+(.+?)\s*(#.*)?$/.exec(l);
    if (d?.[1]) conds.push(d[1].includes("&&") || d[1].includes("||") ? `(${d[1]})` : d[1]);
  }
  // Which symbols stand in the way: plain ones that are off, negated ones that are on.
  const on = (w: string) => /^[ym]$/.test(values.get(w) ?? "n");
  const off = new Set<string>();
  const blocking = new Set<string>();
  for (const m of conds.join(" ").matchAll(/(!?)\s*([A-Za-z_][A-Za-z0-9_]*)/g)) {
    const w = m[2] ?? "";
    if (/^[ymn]$/.test(w)) continue;
    if (m[1] && on(w)) blocking.add(w);
    else if (!m[1] && !on(w)) off.add(w);
  }
  const why = [
    ...(off.size ? [`off: ${[...off].sort().join(", ")}`] : []),
    ...(blocking.size ? [`on: ${[...blocking].sort().join(", ")}`] : []),
  ];
  const parts: string[] = [];
  if (conds.length)
    parts.push(`depends on ${q(conds.join(" && "))}${why.length ? ` (${why.join("; ")})` : ""}`);
  if (!prompt) parts.push("has no prompt: it is on only when another enabled option selects it");
  return parts.join("; ") || "turned off by olddefconfig";
}
