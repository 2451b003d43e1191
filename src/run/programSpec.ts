/**
 * `deb:NAME[=VERSION]` and `pkg:NAME[@RANGE]` name programs that come from packages: resolved here (through
 * src/pkg) into what bake takes, a program with its closure, plus the image defaults the recipe gives.
 */
import type { ProgramInput } from "../bake/bake.js";
import type { Progress } from "../core/progress.js";
import type { ImageDefaults } from "./imageDefaults.js";

export function isPackageSpec(s: string): boolean {
  return s.startsWith("deb:") || s.startsWith("pkg:");
}

export interface ResolvedSpec {
  input: ProgramInput;
  defaults?: ImageDefaults;
}

export async function resolveProgramSpec(
  spec: string,
  opts: { env?: NodeJS.ProcessEnv; progress?: Progress } = {},
): Promise<ResolvedSpec> {
  const resolved = spec.startsWith("deb:")
    ? await (await import("../pkg/debProgram.js")).resolveDebProgram(spec, opts)
    : await (await import("../pkg/pkgProgram.js")).resolvePkgProgram(spec, opts);
  const deb = "packages" in resolved ? resolved : resolved.deb;
  const image = resolved.image;
  return {
    input: {
      src: resolved.program.src,
      dest: resolved.program.dest,
      ...(image?.args ? { args: image.args } : {}),
      ...(image?.env ? { env: image.env } : {}),
      files: resolved.files,
      ...(deb ? { packages: deb.packages } : {}),
    },
    ...(image
      ? {
          defaults: {
            ...(image.memory ? { memory: image.memory } : {}),
            ...(image.ports ? { ports: image.ports } : {}),
          },
        }
      : {}),
  };
}
