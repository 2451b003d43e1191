/**
 * A kiln.toml's `[image] files` (destination in the image → path relative to the kiln.toml's directory) as
 * host paths to add. The schema already refuses absolute paths and ".." (recipe.ts); a symlink in the
 * project can still lead anywhere (`shadow -> /etc/shadow`), and a project may come from anyone, so each
 * path must resolve, links followed, inside the project directory. A file that does not exist is passed on
 * for bake to report.
 */
import { realpath } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import { q, usageError } from "../core/errors.js";

export async function imageFiles(
  dir: string,
  files: Record<string, string>,
  tomlFile: string,
): Promise<{ dest: string; src: string }[]> {
  const root = await realpath(dir);
  const out: { dest: string; src: string }[] = [];
  for (const [dest, rel] of Object.entries(files)) {
    const src = join(dir, rel);
    const real = await realpath(src).catch(() => undefined);
    const inside =
      real === undefined || (!isAbsolute(relative(root, real)) && !relative(root, real).startsWith(".."));
    if (!inside)
      throw usageError(
        "KILN_EIMAGE_FILE_OUTSIDE",
        `Cannot add ${q(rel)} (for ${q(dest)}) from ${q(tomlFile)}: it leads to ${q(real)}, outside ${q(dir)}`,
        "[image] files take paths inside the project's directory; copy the file into it.",
      );
    out.push({ dest, src: real ?? src });
  }
  return out;
}
