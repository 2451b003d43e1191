import { rawDiskFormat } from "./rawDisk.js";

export const format = rawDiskFormat(
  "raw",
  "raw disk that boots with BIOS or UEFI (GPT, ESP with a unified kernel image and syslinux); what the cloud formats hold",
  "hybrid",
);
