import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Write a file so that readers see either the old content or the whole new one, never a part. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
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
 * nothing behind, and an existing directory is replaced only when `replace` is set.
 */
export async function buildDirAtomic(
  path: string,
  fill: (tmpDir: string) => Promise<void>,
  opts: { replace?: boolean } = {},
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  await mkdir(tmp);
  try {
    await fill(tmp);
    if (opts.replace) {
      const old = `${tmp}.old`;
      let moved = false;
      try {
        await rename(path, old);
        moved = true;
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
