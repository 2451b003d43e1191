/**
 * Unpack a Debian package's files (data.tar.*) as a root filesystem tree. It is src/core/safeTar.ts's
 * extraction with one difference (`escapingSymlinks: "rebase"`): Debian packages carry absolute symlinks
 * (`/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2`), which mean "from the root of
 * the system being installed". Each is rewritten relative to its own directory, pointing at the same place
 * inside the tree, so that nothing ever resolves into the host. Everything else is refused as in safeTar:
 * `..` or absolute entry names, writes through symlinks, hard links to anything but an earlier file.
 */
import { unpackDeb } from "../core/debPackage.js";

export interface DebEntry {
  path: string;
  type: "file" | "symlink" | "hardlink";
  /** Symlinks: the target as written in the package (absolute ones before rewriting). */
  target?: string;
}

/** `target` must not exist; on failure it is removed. */
export async function unpackDebRoot(deb: string, target: string): Promise<DebEntry[]> {
  const files = await unpackDeb(deb, target, { escapingSymlinks: "rebase" });
  return files.map((f) => ({
    path: f.path,
    type: f.type,
    ...(f.type === "file" ? {} : { target: f.rebasedFrom ?? f.target }),
  }));
}
