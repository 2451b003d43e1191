/**
 * `deb:NAME[=VERSION]` and `pkg:NAME[@RANGE]` name programs that come from packages: resolved here (through
 * src/pkg) into what bake takes, a program with its closure, plus the image defaults the recipe gives.
 */
import type { ProgramInput } from "../bake/bake.js";
import { q, usageError } from "../core/errors.js";
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
  opts: { env?: NodeJS.ProcessEnv; progress?: Progress; program?: string; files?: string[] } = {},
): Promise<ResolvedSpec> {
  // An option that would be ignored is an error: a pkg: recipe builds the one program it names.
  if (opts.program !== undefined && spec.startsWith("pkg:"))
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `--program ${q(opts.program)} does not apply to ${q(spec)}: a recipe builds the program it names`,
      "Leave --program out, or name a Debian package's program with deb:NAME:/PATH or --program.",
    );
  if (opts.files?.length && spec.startsWith("pkg:"))
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `--include ${q(opts.files[0])} does not apply to ${q(spec)}: a recipe installs what it builds`,
      "Leave --include out; it takes files from a deb: program's Debian packages.",
    );
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
      ...(image?.user ? { user: image.user } : {}),
      ...(image?.memory ? { memory: image.memory } : {}),
      ...(image?.setup ? { setup: image.setup } : {}),
      ...("accounts" in resolved && resolved.accounts ? { accounts: resolved.accounts } : {}),
      files: resolved.files,
      ...(deb ? { packages: deb.packages } : {}),
    },
    ...(image
      ? {
          defaults: {
            ...(image.memory ? { memory: image.memory } : {}),
            ...(image.ports ? { ports: image.ports } : {}),
            ...(image.shell ? { shell: image.shell } : {}),
            ...(image.components ? { components: image.components } : {}),
          },
        }
      : {}),
  };
}
