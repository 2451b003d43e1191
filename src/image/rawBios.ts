import { rawDiskFormat } from "./rawDisk.js";

export const format = rawDiskFormat(
  "raw-bios",
  "raw disk, MBR + FAT + syslinux: boots with a PC BIOS (SeaBIOS, bare metal in legacy mode)",
  "bios",
);
