/**
 * The kernel command line's one hard limit. x86 Linux keeps COMMAND_LINE_SIZE (2048) bytes including the
 * final NUL and silently cuts the rest: the parameters kiln's launchers append last (console=ttyS0 among
 * them) are then lost, and the machine boots with no output at all. So every command line is checked where
 * it is made: baked into an image (with room kept for what a launcher adds), composed at launch, and written
 * into a launchable's boot loader. The kernel's splitting rules (guest/cmdline.c repeats them for kiln-init)
 * give two more ways to lose what the launcher appends: a bare "--" hands everything after it to init as
 * arguments, and an unclosed double quote runs to the end of the line.
 */
import { q, usageError } from "../core/errors.js";

/** x86 COMMAND_LINE_SIZE is 2048 bytes including the final NUL. */
export const X86_CMDLINE_MAX = 2047;

/**
 * Room a baked command line leaves for the launchers: console, reboot and panic settings and kiln.dev
 * (~60 bytes), QEMU's timer hints under software emulation (~100), and the virtio-mmio devices that
 * QEMU microvm without ACPI and Firecracker announce on the command line (64 bytes each) for a NIC and disks.
 */
export const LAUNCHER_ROOM = 512;

/**
 * Refuse a command line that has a control character (it would end a boot loader's line) or is longer than
 * `max` bytes; `what` says whose line it is, `hint` what to do about its length.
 */
export function checkKernelCmdline(
  line: string,
  opts: {
    max: number;
    what: string;
    hint: string;
    room?: { bytes: number; why: string };
    /** Xen's own line may hold "--": what follows it goes to dom0's line, which is no loss. */
    allowDoubleDash?: boolean;
    /** Whose limit `max` is (default x86 Linux). */
    limitOf?: string;
  },
): string {
  if (/[\u0000-\u001f\u007f]/.test(line)) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use the kernel command line ${q(line.length > 200 ? `${line.slice(0, 200)}...` : line)}: it contains a control character`,
      "Give the command line as words separated by spaces, on one line.",
    );
  }
  const words = line.split(/\s+/);
  if (!opts.allowDoubleDash && words.includes("--")) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use a kernel command line with a bare "--" for ${opts.what}: the kernel hands everything after it to init as arguments, so the launcher's parameters (console, kiln.config) would never reach the kernel or kiln-init`,
      'Drop the "--"; arguments for the program go after -- on kiln\'s own command line (kiln launch qemu IMAGE -- ARGS).',
    );
  }
  if ((line.match(/"/g) ?? []).length % 2 === 1) {
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use a kernel command line with an unclosed double quote for ${opts.what}: the kernel would read the rest of the line, the launcher's parameters included, as one value`,
      'Close the quote: param="a b".',
    );
  }
  const bytes = Buffer.byteLength(line);
  if (bytes > opts.max) {
    const room = opts.room ? ` (${X86_CMDLINE_MAX} less ${opts.room.bytes} ${opts.room.why})` : "";
    throw usageError(
      "KILN_ECMDLINE_INVALID",
      `Cannot use a kernel command line of ${bytes} bytes for ${opts.what}: ${opts.limitOf ?? "x86 Linux"} takes at most ${opts.max}${room}, and cuts the rest off, the launcher's console settings first`,
      opts.hint,
      { bytes, max: opts.max },
    );
  }
  return line;
}
