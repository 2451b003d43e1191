import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { claimOutput, type OutputOptions, writeOutput } from "../core/outputPath.js";
import { testPause } from "../core/testPause.js";

/** The files of an image directory (src/manifest/imageManifest.ts). */
const IMAGE_FILES = new Set(["kernel", "initrd", "manifest.json", "hypervisor"]);

/**
 * Write an image directory in one move (bake, pull). An earlier image at that place is replaced: re-baking
 * into the same OUT is the normal loop. Anything else there (a directory with a file of the user's beside a
 * manifest.json, a file, a symlink) is not ours to delete: KILN_EOUT_EXISTS unless `force`.
 */
export async function writeImageDir(
  out: string,
  opts: { force?: boolean; env?: NodeJS.ProcessEnv },
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  await writeOutput(out, imageOutput(opts), async (dir) => {
    await fill(dir);
    await testPause("bake:image-written");
  });
}

/** Check OUT before the work that fills it: a refusal then costs nothing. */
export async function claimImageDir(
  out: string,
  opts: { force?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  await claimOutput(out, imageOutput(opts));
}

function imageOutput(opts: { force?: boolean; env?: NodeJS.ProcessEnv }): OutputOptions {
  return {
    kind: "dir",
    parents: true,
    recognise: isImageDir,
    ...(opts.force ? { force: true } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  };
}

/** An image directory kiln did not record (another KILN_HOME's, an older kiln's): only an image's files. */
async function isImageDir(dir: string): Promise<boolean> {
  const names = await readdir(dir);
  if (!names.includes("manifest.json") || names.some((n) => !IMAGE_FILES.has(n))) return false;
  for (const n of names) if (!(await lstat(join(dir, n))).isFile()) return false;
  try {
    const m = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      v?: unknown;
      kiln?: unknown;
    };
    return m.v === 1 && typeof m.kiln === "string";
  } catch {
    return false;
  }
}
