import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Image } from "../manifest/imageManifest.js";
import { type DiskIds, diskIds } from "./diskIds.js";
import type { LaunchableFormat } from "./format.js";
import { runTool } from "./hostTool.js";
import { writeLaunchable } from "./launchableOutput.js";
import { buildRawDisk, diskOptions, type RawDiskResult } from "./rawDisk.js";

export interface ConvertContext {
  image: Image;
  ids: DiskIds;
  env?: NodeJS.ProcessEnv;
  disk: RawDiskResult;
}

/**
 * A format that holds the hybrid raw disk (BIOS and UEFI: clouds choose per machine type) in another
 * container: `convert` turns `raw` into `file`.
 */
export function convertedDiskFormat(
  name: string,
  description: string,
  convert: (raw: string, file: string, ctx: ConvertContext) => Promise<Record<string, unknown>>,
  opts: { granularityMB?: number } = {},
): LaunchableFormat {
  return {
    name,
    description,
    async make(image, out, fopts) {
      const r = await writeLaunchable(out, fopts, async (file, work) => {
        await mkdir(join(work, "raw"));
        const raw = join(work, "raw", "disk.raw");
        const disk = await buildRawDisk(image, raw, {
          scheme: "hybrid",
          format: name,
          workDir: work,
          ...(opts.granularityMB ? { granularityMB: opts.granularityMB } : {}),
          ...diskOptions(fopts),
        });
        fopts.progress?.step(`${name} from the raw disk`);
        const ids = diskIds(image.manifest, name, [disk.sizeMB, disk.cmdline]);
        const extra = await convert(raw, file, {
          image,
          ids,
          disk,
          ...(fopts.env ? { env: fopts.env } : {}),
        });
        return { ...disk, ...extra };
      });
      return { format: name, ...r };
    },
  };
}

/** qemu-img convert from raw; qemu-img reads zeros as holes, so a sparse raw disk converts quickly. */
export async function qemuImgConvert(
  raw: string,
  file: string,
  outFormat: string,
  options: readonly string[],
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  await runTool(
    "qemu-img",
    [
      "convert",
      "-q",
      "-f",
      "raw",
      "-O",
      outFormat,
      ...(options.length ? ["-o", options.join(",")] : []),
      raw,
      file,
    ],
    env ? { env } : {},
  );
}
