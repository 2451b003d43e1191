/** What a multiboot boot loads: the hypervisor with its command line, then its modules (path and command line). */
export interface MultibootEntry {
  hypervisor: string;
  cmdline: string;
  modules: { path: string; cmdline: string }[];
}

import { q, usageError } from "../core/errors.js";

/**
 * The longest line syslinux 6 runs (the module's name, a space and its APPEND): past it, it stops at its
 * prompt with "cmdline too long" (measured: an APPEND of 2037 bytes after "mboot.c32" boots, 2038 do not).
 */
export const SYSLINUX_LINE_MAX = 2047;

/**
 * syslinux/isolinux configuration: no menu, no prompt, no timeout; serial console on COM1 at 115200 so
 * the boot loader's own lines reach the same place as the kernel's. With a hypervisor, mboot.c32 loads it
 * by multiboot with the kernel and the initrd as its modules; mboot.c32 separates them with " --- ", so
 * neither command line may hold that word (launchableCmdline checks), and both share syslinux's one line.
 */
export function syslinuxConfig(opts: {
  kernel: string;
  initrd: string;
  cmdline: string;
  hypervisor?: { file: string; cmdline: string };
}): string {
  const hv = opts.hypervisor;
  const append = hv
    ? `${[hv.file, hv.cmdline].filter(Boolean).join(" ")} --- ${[opts.kernel, opts.cmdline].filter(Boolean).join(" ")} --- ${opts.initrd}`
    : undefined;
  if (append !== undefined && Buffer.byteLength(`mboot.c32 ${append}`) > SYSLINUX_LINE_MAX) {
    const bytes = Buffer.byteLength(`mboot.c32 ${append}`);
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot boot ${q(hv!.file)} with these command lines: syslinux runs a line of at most ${SYSLINUX_LINE_MAX} bytes, which they share with the module and file names, and this one has ${bytes}`,
      "Shorten --cmdline or --hypervisor-cmdline.",
      { bytes, max: SYSLINUX_LINE_MAX },
    );
  }
  const boot =
    append !== undefined
      ? ["  KERNEL mboot.c32", `  APPEND ${append}`]
      : [`  LINUX ${opts.kernel}`, `  INITRD ${opts.initrd}`, `  APPEND ${opts.cmdline}`];
  return ["SERIAL 0 115200", "DEFAULT kiln", "PROMPT 0", "TIMEOUT 0", "LABEL kiln", ...boot, ""].join("\n");
}

/**
 * The multiboot entry a syslinux configuration boots by default (its DEFAULT label, else its first, runs
 * mboot.c32), or undefined when it boots a kernel directly. Read by the launcher from a medium, so that it
 * gives the machine what the hypervisor needs. Keywords are case-insensitive and a global APPEND serves
 * labels without their own, as syslinux reads them.
 */
export function syslinuxMultiboot(text: string): MultibootEntry | undefined {
  type Label = { kernel?: string; append?: string };
  const labels = new Map<string, Label>();
  const global: Label = {};
  let current = global;
  let def: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*([^\s#]\S*)\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!;
    if (key === "default") def = value;
    else if (key === "label") {
      current = {};
      labels.set(value, current);
    } else if (key === "kernel" || key === "com32" || key === "linux") current.kernel = value;
    else if (key === "append") current.append = value;
  }
  const entry = def !== undefined ? labels.get(def) : labels.values().next().value;
  const append = entry?.append ?? global.append;
  if (entry?.kernel?.split(/[\\/]/).pop()?.toLowerCase() !== "mboot.c32" || !append) return undefined;
  const [first, ...modules] = append.split(/\s+---(?:\s+|$)/);
  const [hypervisor, ...words] = (first ?? "").split(/\s+/).filter(Boolean);
  if (!hypervisor) return undefined;
  return {
    hypervisor,
    cmdline: words.join(" "),
    modules: modules
      .map((mod) => mod.trim().split(/\s+/))
      .filter(([path]) => path)
      .map(([path, ...args]) => ({ path: path!, cmdline: args.join(" ") })),
  };
}
