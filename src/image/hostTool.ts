import { delimiter } from "node:path";
import { KilnError, q } from "../core/errors.js";
import { type ExecOptions, type ExecResult, exec, which } from "../core/exec.js";

/** The Debian package that provides each host tool the launchable formats run. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  sfdisk: "fdisk",
  "mkfs.fat": "dosfstools",
  mcopy: "mtools",
  mmd: "mtools",
  syslinux: "syslinux",
  xorriso: "xorriso",
  objcopy: "binutils",
  "qemu-img": "qemu-utils",
};

/**
 * Environment for every tool: mtools and xorriso stamp files with SOURCE_DATE_EPOCH (FAT counts from 1980,
 * so 0 would wrap to 2098); TZ=UTC because FAT dates are local time; no user mtools configuration.
 */
export const FIXED_EPOCH = 315532800; // 1980-01-01T00:00:00Z

export function toolEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    SOURCE_DATE_EPOCH: String(FIXED_EPOCH),
    TZ: "UTC",
    LC_ALL: "C",
    MTOOLS_SKIP_CHECK: "1",
    MTOOLSRC: "/dev/null",
  };
}

/** Run a host tool (found on PATH or in /usr/sbin, where sfdisk and mkfs.fat live); a missing one names its package. */
export async function runTool(
  cmd: string,
  args: readonly string[],
  opts: ExecOptions & { env?: NodeJS.ProcessEnv } = {},
): Promise<ExecResult> {
  const env = opts.env ?? process.env;
  const path = [env.PATH ?? "", "/usr/sbin", "/sbin"].filter(Boolean).join(delimiter);
  const found = await which(cmd, path);
  if (!found) {
    const pkg = TOOL_PACKAGES[cmd] ?? cmd;
    throw new KilnError(
      "KILN_ETOOL_MISSING",
      `Cannot run ${q(cmd)}: not found on PATH or in /usr/sbin`,
      `Install the Debian package ${pkg} (apt-get install ${pkg}).`,
      { details: { tool: cmd, package: pkg } },
    );
  }
  return exec(found, args, { ...opts, env: toolEnv(env) });
}
