/**
 * The memory an image needs, from its kernel's boot header and its initrd's size, so that `-M` can default
 * to what the image needs instead of one number for every image: a 2 MB specialized kernel with a small
 * program boots in a fifth of what Debian's cloud kernel needs, and a large initrd does not boot in a fixed
 * default at all.
 *
 * Measured smallest `-m` booting hello under QEMU microvm (TCG, Linux 6.1; bench/rumprun.mjs measures the
 * small-initrd rows again, the others add a 20 MB file with --add):
 *
 *   kernel (pref_address + init_size)   initrd      boots at   fails at ("Kernel panic"/"Initramfs ... failed")
 *   stock cloud      67.5 MiB          0.7 MiB     70         68 (deadlocked on memory)
 *   stock cloud      67.5 MiB         19.8 MiB    108        104
 *   specialized      15.4 MiB          0.1 MiB     18         16
 *   specialized      15.4 MiB         19.2 MiB     74         72 (Initramfs unpacking failed: write error)
 *
 * The kernel's part is exact: the boot protocol's pref_address + init_size is the memory the kernel needs
 * before it can look at the memory map (Documentation/x86/boot.rst); with less it cannot start (QEMU ends
 * with no output, or the kernel hangs). The initrd is held three times while it is unpacked: the cpio as
 * loaded, the files in the rootfs, and tmpfs (the rootfs when there is no root=) takes at most half of the
 * free memory. So booting needs kernel + 3 x initrd + 4 MiB (page tables, slab: the slack in the rows above),
 * and the default gives the program PROGRAM_MIB more, rounded up to 16 MiB: 128 MiB for a stock hello (the
 * old fixed default), 80 MiB for a specialized one.
 */
import { open } from "node:fs/promises";
import { KilnError, q } from "../core/errors.js";

const MIB = 1024 * 1024;
/** Kernel allocations beyond init_size while booting (page tables, slab, the struct pages). */
const KERNEL_SLACK_MIB = 4;
/** What the default leaves the program once the system is up. */
const PROGRAM_MIB = 48;

export interface ImageMemory {
  /** Below this the kernel cannot start at all (MiB, rounded up). */
  kernelMiB: number;
  /** The estimate of what booting to the program takes (MiB). */
  bootMiB: number;
  /** What `-M` defaults to for this image (MiB). */
  defaultMiB: number;
}

/** pref_address + init_size of a bzImage's setup header; undefined for anything else (an ELF, an old kernel). */
export async function kernelNeedsBytes(kernel: string): Promise<number | undefined> {
  const fh = await open(kernel, "r").catch(() => undefined);
  if (!fh) return undefined;
  try {
    const head = Buffer.alloc(0x268);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < head.length || head.readUInt16LE(0x1fe) !== 0xaa55) return undefined;
    if (head.toString("latin1", 0x202, 0x206) !== "HdrS") return undefined;
    // pref_address and init_size came with boot protocol 2.10.
    if (head.readUInt16LE(0x206) < 0x20a) return undefined;
    return Number(head.readBigUInt64LE(0x258)) + head.readUInt32LE(0x260);
  } finally {
    await fh.close();
  }
}

/** The image's needs, from its kernel's header and its initrd's size; undefined when the kernel does not say. */
export async function imageMemory(kernel: string, initrdBytes: number): Promise<ImageMemory | undefined> {
  const k = await kernelNeedsBytes(kernel);
  if (k === undefined) return undefined;
  return memoryFor(k, initrdBytes);
}

export function memoryFor(kernelBytes: number, initrdBytes: number): ImageMemory {
  const bootMiB = Math.ceil((kernelBytes + 3 * initrdBytes) / MIB) + KERNEL_SLACK_MIB;
  return {
    kernelMiB: Math.ceil(kernelBytes / MIB),
    bootMiB,
    defaultMiB: Math.ceil((bootMiB + PROGRAM_MIB) / 16) * 16,
  };
}

/**
 * Console lines with which Linux says it ran out of memory: while unpacking the initrd (the cpio does not
 * fit), or later, when it panics or kills for lack of memory.
 */
const OUT_OF_MEMORY = [
  /Initramfs unpacking failed: write error/,
  /Kernel panic - not syncing: .*(?:deadlocked on memory|[Oo]ut of memory)/,
  /Out of memory: Killed process/,
  /oom-kill:/,
];

/** The kernel's own line, without its timestamp, when `line` says memory ran out. */
export function outOfMemoryLine(line: string): string | undefined {
  const text = line.replace(/\r$/, "");
  if (!OUT_OF_MEMORY.some((re) => re.test(text))) return undefined;
  return text.replace(/^\[\s*\d+\.\d+\]\s*/, "");
}

export function memoryError(
  memoryMB: number,
  why: string,
  needs: ImageMemory | undefined,
  details: Record<string, unknown> = {},
  kind: "usage" | "failure" = "failure",
): KilnError {
  const advice = needs
    ? `give it more with -M (this image's default is ${needs.defaultMiB} MiB: leave -M out to use it)`
    : "give it more with -M";
  return new KilnError(
    "KILN_EMEMORY_TOO_SMALL",
    `The machine has too little memory (-M ${memoryMB}): ${why}`,
    `${advice.charAt(0).toUpperCase()}${advice.slice(1)}.`,
    { kind, details: { memoryMB, ...(needs ? { defaultMB: needs.defaultMiB } : {}), ...details } },
  );
}

/** The error for a boot that ended on `line` (outOfMemoryLine's), quoting the kernel. */
export function outOfMemoryError(memoryMB: number, line: string, needs: ImageMemory | undefined): KilnError {
  return memoryError(memoryMB, `the kernel ran out of memory while booting: ${q(line)}`, needs, { line });
}

/** Refuse a memory size below what the kernel needs before it can run: it would end with no output, or hang. */
export function checkKernelFits(memoryMB: number, needs: ImageMemory | undefined): void {
  if (!needs || memoryMB >= needs.kernelMiB) return;
  throw memoryError(
    memoryMB,
    `its kernel needs ${needs.kernelMiB} MiB before it can start (its boot header's pref_address + init_size)`,
    needs,
    { kernelMB: needs.kernelMiB },
    "usage",
  );
}
