/**
 * One source for every path of the initrd. Two sources at one path would let one silently replace the other
 * while the manifest and the SBOM still describe the first; kiln's own paths (/init: kiln-init, the image's
 * PID 1; /kiln/: its baked configuration, its module list and the run-time configuration a launcher appends)
 * take nothing from anyone else, or the image would boot something other than what it says it is.
 */
import { q, usageError } from "../core/errors.js";
import { initrdPath } from "./cpio.js";

export interface PathClaim {
  path: string;
  /** Who puts it there, for messages: `--add "site/x"`, `program "hello"`. */
  from: string;
  /** One of kiln's own files (kiln-init, its configuration). */
  kiln?: boolean;
}

const RESERVED = /^(init|kiln)(\/|$)/;

export function checkInitrdPaths(claims: readonly PathClaim[]): void {
  const owner = new Map<string, string>();
  for (const c of claims) {
    const p = initrdPath(c.path);
    if (!c.kiln && RESERVED.test(p)) {
      throw usageError(
        "KILN_EPATH_RESERVED",
        `Cannot put ${c.from} at ${q(c.path)} in the image: ${p.startsWith("init") ? "/init is kiln-init, the image's PID 1" : "/kiln/ holds kiln-init's configuration"}`,
        "Choose another destination. A boot configuration goes in with --config FILE, programs as PROGRAM arguments of bake.",
      );
    }
    const other = owner.get(p);
    if (other !== undefined) {
      throw usageError(
        "KILN_EPATH_CONFLICT",
        `Cannot put both ${other} and ${c.from} at ${q(`/${p}`)} in the image`,
        "Give each its own destination: one would silently replace the other.",
      );
    }
    owner.set(p, c.from);
  }
}
