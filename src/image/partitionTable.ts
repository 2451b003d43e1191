import { runTool } from "./hostTool.js";

/**
 * Partition tables written by sfdisk from a script, with the identifiers given rather than drawn: an MBR
 * with one partition (BIOS), or a GPT with one EFI System Partition. Units are 512-byte sectors.
 */
export interface OnePartition {
  start: number;
  size: number;
}

export const ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";

export function mbrScript(p: OnePartition & { signature: string; type: string; bootable: boolean }): string {
  return [
    "label: dos",
    `label-id: ${p.signature}`,
    "unit: sectors",
    `start=${p.start}, size=${p.size}, type=${p.type}${p.bootable ? ", bootable" : ""}`,
    "",
  ].join("\n");
}

export function gptScript(
  p: OnePartition & { diskGuid: string; partGuid: string; name: string; legacyBiosBootable: boolean },
): string {
  return [
    "label: gpt",
    `label-id: ${p.diskGuid}`,
    "unit: sectors",
    "first-lba: 34",
    `start=${p.start}, size=${p.size}, type=${ESP_TYPE}, uuid=${p.partGuid}, name="${p.name}"${
      p.legacyBiosBootable ? ', attrs="LegacyBIOSBootable"' : ""
    }`,
    "",
  ].join("\n");
}

export async function writePartitionTable(
  file: string,
  script: string,
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  await runTool("sfdisk", ["--quiet", "--no-reread", "--no-tell-kernel", file], {
    input: script,
    ...(env ? { env } : {}),
  });
}
