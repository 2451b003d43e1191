/**
 * A platform's own programs (a Xen host's toolstack): each a Debian package's binary with its shared-library
 * closure, resolved here, above bake, because fetching Debian packages is src/pkg's work and bake sits
 * below it. `kiln bake` and `kiln run` both hand the result to bake as `platformPrograms`.
 */
import type { ProgramInput } from "../bake/bake.js";
import type { Progress } from "../core/progress.js";

export async function resolvePlatformPrograms(
  platform: string,
  opts: { catalogues?: string[]; env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<ProgramInput[]> {
  const { loadCatalogue } = await import("../components/catalogue.js");
  const cat = await loadCatalogue({ extraFiles: opts.catalogues, env: opts.env });
  const programs = cat.platforms.get(platform)?.programs ?? [];
  if (programs.length === 0) return [];
  const { resolveDebProgram } = await import("../pkg/debProgram.js");
  const out: ProgramInput[] = [];
  for (const p of programs) {
    const r = await resolveDebProgram(`deb:${p.deb}`, {
      program: p.bin,
      exclude: p.exclude,
      files: p.files,
      catalogue: false,
      // The catalogue lists what a platform's programs need: its images stay as small as they were.
      data: false,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    out.push({
      src: r.program.src,
      dest: r.program.dest,
      args: p.args,
      mode: p.mode,
      ...(p.ready ? { ready: p.ready } : {}),
      files: r.files,
      packages: r.packages,
    });
  }
  return out;
}
