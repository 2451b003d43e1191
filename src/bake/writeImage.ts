import { readdir } from "node:fs/promises";
import { buildDirAtomic } from "../core/atomic.js";
import { q, usageError } from "../core/errors.js";
import { testPause } from "../core/testPause.js";

/**
 * Write an image directory in one move. An existing kiln image at that place is replaced (re-baking into
 * the same OUT is the normal loop); any other non-empty directory is left alone: it is not ours to delete.
 */
export async function writeImageDir(out: string, fill: (dir: string) => Promise<void>): Promise<void> {
  let existing: string[] | undefined;
  try {
    existing = await readdir(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR")
      throw usageError(
        "KILN_EOUT_EXISTS",
        `Cannot write the image to ${q(out)}: a file is there`,
        "Choose another OUT path.",
      );
    if (code !== "ENOENT") throw e;
  }
  if (existing && existing.length > 0 && !existing.includes("manifest.json")) {
    throw usageError(
      "KILN_EOUT_EXISTS",
      `Cannot write the image to ${q(out)}: it is a directory with other files in it`,
      "Choose a new OUT path, or an earlier kiln image to replace.",
    );
  }
  await buildDirAtomic(
    out,
    async (dir) => {
      await fill(dir);
      await testPause("bake:image-written");
    },
    { replace: true },
  );
}
