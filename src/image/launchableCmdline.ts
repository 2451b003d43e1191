import { q, usageError } from "../core/errors.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { checkKernelCmdline, X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";

/**
 * Xen copies a domain's command line into a 1024-byte field (MAX_GUEST_CMDLINE, public/xen.h) and keeps its
 * own in one of the same size (xen_commandline_t): what is longer is cut off.
 */
export const XEN_CMDLINE_MAX = 1023;

/**
 * dom0's memory on a launchable, fixed as Debian's Xen documentation advises for a host (dom0 does not
 * balloon down as guests start, and Xen sizes its own tables for it): 1 GiB, or the user's own dom0_mem=.
 */
export const DEFAULT_DOM0_MEM = "dom0_mem=1024M,max:1024M";

const HINT = "Shorten --cmdline, or move configuration into the image (kiln bake --config).";

const words = (...lines: (string | undefined)[]) =>
  lines
    .join(" ")
    .split(/[ \t]+/)
    .filter(Boolean);

/** syslinux's mboot.c32 splits its APPEND line at "---": a command line holding that word would be cut in two. */
function refuseSeparator(list: readonly string[], what: string, option: string): void {
  if (list.includes("---")) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use a command line with a bare "---" for ${what}: the boot loader (syslinux's mboot.c32) separates the hypervisor, the kernel and the initrd with it`,
      `Drop the "---" from ${option}.`,
    );
  }
}

/**
 * The kernel command line a launchable boots with: the image's own (its baked config is /kiln/image.json in
 * the initrd, so nothing else is needed), the caller's extra, and a serial console, since clouds and tests
 * read ttyS0, and no_timer_check. It ends up in boot loader configuration files, so control characters are
 * refused. Under a hypervisor the kernel is its first domain (dom0): the hypervisor owns the serial port and
 * forwards dom0's console (hvc0) to it, so the image's consoles give way to hvc0 unless the extra names one,
 * the timer hint (for a kernel on the bare CPU) is left out, and Xen's limit on a domain's line applies.
 */
export function launchableCmdline(manifest: ImageManifest, extra?: string): string {
  if (manifest.hypervisor) {
    const own = words(extra);
    const list = [...words(manifest.cmdline).filter((w) => !w.startsWith("console=")), ...own];
    if (!own.some((w) => w.startsWith("console="))) list.push("console=hvc0");
    refuseSeparator(list, `the first domain of a ${manifest.hypervisor.name} launchable`, "--cmdline");
    return checkKernelCmdline(list.join(" "), {
      max: XEN_CMDLINE_MAX,
      what: `the first domain (dom0) of a ${manifest.hypervisor.name} launchable`,
      hint: HINT,
      limitOf: "Xen",
    });
  }
  const list = words(manifest.cmdline, extra);
  if (!list.some((w) => w.startsWith("console="))) list.push("console=ttyS0");
  // A launchable is booted by firmware, often in an emulated or overloaded VM, with no launcher to add
  // this then: under load the kernel's IO-APIC timer check fails and it panics ("IO-APIC + timer doesn't
  // work"). Skipping the check is harmless on hardware and on every hypervisor.
  if (!list.includes("no_timer_check")) list.push("no_timer_check");
  return checkKernelCmdline(list.join(" "), { max: X86_CMDLINE_MAX, what: "a launchable", hint: HINT });
}

/**
 * The hypervisor's command line on a launchable: the image's own, the caller's extra, and dom0's memory
 * (DEFAULT_DOM0_MEM) unless one of them sets dom0_mem. A launchable boots a real machine, whose memory kiln
 * cannot know: a fixed dom0 suits any host with room for it, where a share of the machine would not.
 */
export function launchableHypervisorCmdline(manifest: ImageManifest, extra?: string): string {
  const hv = manifest.hypervisor;
  if (!hv) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `Cannot use --hypervisor-cmdline ${q(extra ?? "")} with image ${q(manifest.name)}: it boots no hypervisor`,
      "Drop --hypervisor-cmdline; --cmdline adds to the kernel's command line.",
    );
  }
  const list = words(hv.cmdline, extra);
  if (!list.some((w) => w.startsWith("dom0_mem="))) list.push(DEFAULT_DOM0_MEM);
  const what = `the ${hv.name} hypervisor of a launchable`;
  refuseSeparator(list, what, "--hypervisor-cmdline");
  return checkKernelCmdline(list.join(" "), {
    max: XEN_CMDLINE_MAX,
    what,
    hint: "Shorten --hypervisor-cmdline.",
    allowDoubleDash: true,
    limitOf: "Xen",
  });
}
