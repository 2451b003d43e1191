// An HVM guest on the Xen rig that boots a kiln image by direct kernel boot, its device model (QEMU) in a
// stub domain or in dom0: the xl configuration the stub domain test and bench/stubdom.mjs both create.
import { copyFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A copy of `file` padded with zeros to whole 512-byte sectors: a disk file's last partial sector is cut
 * off by the loop device dom0 serves it from. A bzImage and a cpio archive both ignore trailing zeros.
 */
export function sectorPadded(file: string, out: string): string {
  copyFileSync(file, out);
  truncateSync(out, Math.ceil(statSync(file).size / 512) * 512);
  return out;
}

export interface HvmGuest {
  cfg: string;
  /** Every file xl create and the guest's disks read: the kernel and ramdisk (stub domain's too), padded. */
  files: string[];
}

/**
 * Write `DIR/NAME.cfg` for an HVM guest booting `image` (a kiln image directory) with its console on the
 * serial file. `stub` puts QEMU in a stub domain of that image and memory; without it QEMU runs in dom0.
 */
export function hvmGuest(opts: {
  name: string;
  dir: string;
  image: string;
  serial: string;
  /** kiln's hotplug script for the guest's disks (src/launch/drivers/xenHotplug.ts). */
  script: string;
  stub?: { image: string; memoryMB: number };
  dmArgs?: string[];
}): HvmGuest {
  const { name, dir, script } = opts;
  const kernel = sectorPadded(join(opts.image, "kernel"), join(dir, `${name}-kernel`));
  const initrd = sectorPadded(join(opts.image, "initrd"), join(dir, `${name}-initrd`));
  const stub = opts.stub ? [join(opts.stub.image, "kernel"), join(opts.stub.image, "initrd")] : [];
  const cfg = join(dir, `${name}.cfg`);
  writeFileSync(
    cfg,
    [
      `name = "${name}"`,
      'type = "hvm"',
      "memory = 256",
      "vcpus = 1",
      'device_model_version = "qemu-xen"',
      ...(opts.stub
        ? [
            "device_model_stubdomain_override = 1",
            `stubdomain_kernel = "${stub[0]}"`,
            `stubdomain_ramdisk = "${stub[1]}"`,
            `stubdomain_memory = ${opts.stub.memoryMB}`,
          ]
        : []),
      'vga = "none"',
      "nographic = 1",
      `serial = "file:${opts.serial}"`,
      // Direct kernel boot: with a stub domain, QEMU runs where dom0's files do not exist; the same files are
      // the guest's disks too, which libxl attaches to the stub domain, and kiln-init there finds each path
      // among them by its backend's params (read-write: qemu-xen has no read-only IDE disks; they are copies).
      `kernel = "${kernel}"`,
      `ramdisk = "${initrd}"`,
      'cmdline = "console=ttyS0 no_timer_check panic=-1"',
      `disk = [ "format=raw, vdev=xvdb, access=rw, script=${script}, target=${kernel}", "format=raw, vdev=xvdc, access=rw, script=${script}, target=${initrd}" ]`,
      'on_poweroff = "destroy"',
      'on_reboot = "destroy"',
      'on_crash = "destroy"',
      // _hvm: only the guest's device model; plain device_model_args also reach the QEMU libxl starts in dom0
      // to serve the stub domain's consoles.
      ...(opts.dmArgs ? [`device_model_args_hvm = [ ${opts.dmArgs.map((a) => `"${a}"`).join(", ")} ]`] : []),
      "",
    ].join("\n"),
  );
  return { cfg, files: [...stub, kernel, initrd] };
}
