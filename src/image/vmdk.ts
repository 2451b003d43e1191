import { convertedDiskFormat, qemuImgConvert } from "./convertedDisk.js";
import { setVmdkCid } from "./vmdkHeader.js";

// Stream-optimized: the VMDK flavour VMware's OVF import and AWS VM Import take.
export const format = convertedDiskFormat(
  "vmdk",
  "VMware / AWS import disk (stream-optimized VMDK) holding the BIOS+UEFI raw disk",
  async (raw, file, ctx) => {
    await qemuImgConvert(raw, file, "vmdk", ["subformat=streamOptimized"], ctx.env);
    await setVmdkCid(file, ctx.ids.contentId);
    return { subformat: "streamOptimized", cid: ctx.ids.contentId.toString(16).padStart(8, "0") };
  },
);
