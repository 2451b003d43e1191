import type { ImageManifest } from "../manifest/imageManifest.js";
import { checkKernelCmdline, X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";

/**
 * The kernel command line a launchable boots with: the image's own (its baked config is /kiln/image.json in
 * the initrd, so nothing else is needed), the caller's extra, and a serial console, since clouds and tests
 * read ttyS0, and no_timer_check. It ends up in boot loader configuration files, so control characters are refused.
 */
export function launchableCmdline(manifest: ImageManifest, extra?: string): string {
  const words = [manifest.cmdline, extra ?? ""]
    .join(" ")
    .split(/[ \t]+/)
    .filter(Boolean);
  if (!words.some((w) => w.startsWith("console="))) words.push("console=ttyS0");
  // A launchable is booted by firmware, often in an emulated or overloaded VM, with no launcher to add
  // this then: under load the kernel's IO-APIC timer check fails and it panics ("IO-APIC + timer doesn't
  // work"). Skipping the check is harmless on hardware and on every hypervisor.
  if (!words.includes("no_timer_check")) words.push("no_timer_check");
  return checkKernelCmdline(words.join(" "), {
    max: X86_CMDLINE_MAX,
    what: "a launchable",
    hint: "Shorten --cmdline, or move configuration into the image (kiln bake --config).",
  });
}
