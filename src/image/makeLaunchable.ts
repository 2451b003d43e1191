import type { Progress } from "../core/progress.js";
import { openImage } from "../manifest/imageManifest.js";
import { FORMATS, type FormatOptions, getFormat, type LaunchableResult } from "./format.js";
import { launchableHypervisorCmdline } from "./launchableCmdline.js";
import { type LaunchableNet, launchableNetCmdline } from "./launchableNet.js";

export interface MakeLaunchableOptions extends FormatOptions {
  format: string;
  /** The baked image directory. */
  image: string;
  out: string;
  progress?: Progress;
  /** How the launchable's first interface gets its address (src/image/launchableNet.ts). */
  net?: LaunchableNet;
}

/** `kiln image`: check the format name, open the image (digests checked), make the launchable. */
export async function makeLaunchable(opts: MakeLaunchableOptions): Promise<LaunchableResult> {
  const format = await getFormat(opts.format);
  const image = await openImage(opts.image, opts.env ? { env: opts.env } : {});
  const { format: _f, image: _i, out, net, ...rest } = opts;
  // Checked before any format does its work, so that a wrong one fails at once.
  if (rest.hypervisorCmdline !== undefined)
    launchableHypervisorCmdline(image.manifest, rest.hypervisorCmdline);
  const cmdline = [rest.cmdline ?? "", launchableNetCmdline(image.manifest, format.name, net)]
    .join(" ")
    .trim();
  opts.progress?.step(`${format.name} from ${image.manifest.name}`);
  const r = await format.make(image, out, {
    ...rest,
    ...(cmdline ? { cmdline } : {}),
    ...(net ? { net } : {}),
  });
  opts.progress?.done(`${format.name}: ${r.out}`);
  return r;
}

/** Every format that loads here, with its description (a format whose module is missing is left out). */
export async function listFormats(): Promise<{ name: string; description: string }[]> {
  const all = await Promise.all(
    Object.entries(FORMATS).map(async ([name, load]) => {
      try {
        return { name, description: (await load()).description };
      } catch {
        return undefined;
      }
    }),
  );
  return all.filter((f): f is { name: string; description: string } => f !== undefined);
}
