import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { scratchBeside } from "./scratchName.js";
import { testPause } from "./testPause.js";

/**
 * Write a file so that readers see either the old content or the whole new one, never a part. The scratch
 * file beside it is named by scratchName: one a killed kiln left for the same path goes on the next write.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = await scratchBeside(path);
  try {
    await writeFile(tmp, data, mode === undefined ? {} : { mode });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Build a directory beside its final place and move it in with one rename: a failure part-way leaves
 * nothing behind, and an existing directory is replaced only when `replace` is set. A kiln killed between
 * the two renames of a replacement leaves the old directory aside: the next write or `kiln gc` puts it back.
 */
export async function buildDirAtomic(
  path: string,
  fill: (tmpDir: string) => Promise<void>,
  opts: { replace?: boolean } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = await scratchBeside(path);
  await mkdir(tmp);
  try {
    await fill(tmp);
    if (opts.replace) {
      const old = `${tmp}.old`;
      let moved = false;
      try {
        await rename(path, old);
        moved = true;
        await testPause("atomic:old-moved-aside");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      }
      await rename(tmp, path);
      if (moved) await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, path);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
