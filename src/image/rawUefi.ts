import { rawDiskFormat } from "./rawDisk.js";

export const format = rawDiskFormat(
  "raw-uefi",
  "raw disk, GPT + EFI System Partition with a unified kernel image: boots with UEFI firmware (OVMF)",
  "uefi",
);
