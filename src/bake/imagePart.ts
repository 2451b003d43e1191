/**
 * Putting a part (kernel, hypervisor, initrd) into a new image directory. Re-baking into the same OUT is the
 * usual loop, and the kernel is the same 14 MB each time: when the image being replaced holds the part with
 * the digest wanted (its digest from the digest cache, so a part changed since is read and found to differ),
 * the new directory takes that file by a hard link instead of a copy, and the old directory's removal then
 * frees nothing either. Otherwise the part is copied (a reflink where the file system has them) or written.
 */
import { constants } from "node:fs";
import { copyFile, link, writeFile } from "node:fs/promises";
import { fileDigest } from "../core/digestCache.js";

export async function placeImagePart(
  dest: string,
  part: { sha256: string; previous: string; from: string | readonly Uint8Array[] },
  env?: NodeJS.ProcessEnv,
): Promise<void> {
  const old = await fileDigest(part.previous, env ? { env } : {}).catch(() => undefined);
  if (old?.sha256 === part.sha256) {
    try {
      await link(part.previous, dest);
      return;
    } catch {
      // Another file system's OUT, or links refused: copy as if there were nothing to reuse.
    }
  }
  if (typeof part.from === "string") await copyFile(part.from, dest, constants.COPYFILE_FICLONE);
  else await writeFile(dest, part.from);
}
