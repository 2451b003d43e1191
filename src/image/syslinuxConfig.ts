/**
 * syslinux/isolinux configuration: no menu, no prompt, no timeout; serial console on COM1 at 115200 so
 * the boot loader's own lines reach the same place as the kernel's.
 */
export function syslinuxConfig(opts: { kernel: string; initrd: string; cmdline: string }): string {
  return [
    "SERIAL 0 115200",
    "DEFAULT kiln",
    "PROMPT 0",
    "TIMEOUT 0",
    "LABEL kiln",
    `  LINUX ${opts.kernel}`,
    `  INITRD ${opts.initrd}`,
    `  APPEND ${opts.cmdline}`,
    "",
  ].join("\n");
}
