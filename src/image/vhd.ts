import { convertedDiskFormat, qemuImgConvert } from "./convertedDisk.js";
import { fixVhdFooter } from "./vhdFooter.js";

// Fixed VHD with the exact virtual size (force_size): what Azure requires (a whole number of MiB).
export const format = convertedDiskFormat(
  "vhd",
  "Azure / Hyper-V disk (fixed VHD) holding the BIOS+UEFI raw disk",
  async (raw, file, ctx) => {
    await qemuImgConvert(raw, file, "vpc", ["subformat=fixed", "force_size=on"], ctx.env);
    await fixVhdFooter(file, { timestamp: 0, uniqueId: ctx.ids.uniqueId });
    return { subformat: "fixed", uniqueId: ctx.ids.uniqueId.toString("hex") };
  },
);
