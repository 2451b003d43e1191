/**
 * `--shell` (or a recipe's `[image] shell = true`): Debian's dash as /bin/sh, with its closure, for programs
 * that run commands through a shell (PostgreSQL's initdb, system(3), popen(3)). Installed, never run by
 * kiln-init; off by default, because a shell in an image is attack surface.
 */
import type { ProgramInput } from "../bake/bake.js";
import type { Progress } from "../core/progress.js";

export async function resolveShell(
  opts: { env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<ProgramInput> {
  const { resolveDebProgram } = await import("../pkg/debProgram.js");
  const r = await resolveDebProgram("deb:dash", { files: ["/bin/sh"], catalogue: false, ...opts });
  return { src: r.program.src, dest: r.program.dest, mode: "none", files: r.files, packages: r.packages };
}
