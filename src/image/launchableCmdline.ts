import { q, usageError } from "../core/errors.js";
import type { ImageManifest } from "../manifest/imageManifest.js";

/** x86 COMMAND_LINE_SIZE, including the terminating NUL. */
const MAX_CMDLINE = 2047;

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
  const line = words.join(" ");
  if (/[\u0000-\u001f\u007f]/.test(line)) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use the kernel command line ${q(line)}: it contains a control character`,
      "Give the command line as words separated by spaces, on one line.",
    );
  }
  if (Buffer.byteLength(line) > MAX_CMDLINE) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use a kernel command line of ${Buffer.byteLength(line)} bytes: x86 Linux takes at most ${MAX_CMDLINE}`,
      "Shorten --cmdline, or move configuration into the image (kiln bake --config).",
    );
  }
  return line;
}
