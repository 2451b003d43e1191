import { convertedDiskFormat, qemuImgConvert } from "./convertedDisk.js";

// qcow2 from qemu-img holds nothing time- or random-dependent (checked by the determinism test).
export const format = convertedDiskFormat(
  "qcow2",
  "QEMU/KVM, OpenStack, libvirt disk (qcow2 v3) holding the BIOS+UEFI raw disk",
  async (raw, file, ctx) => {
    await qemuImgConvert(raw, file, "qcow2", ["compat=1.1"], ctx.env);
    return {};
  },
);
