/**
 * The four build systems kiln drives through the toolchain (autotools, CMake, Meson, plain make): the one
 * place that knows their command lines. `kiln run DIR` only builds; a recipe also configures for its
 * prefix and installs into a staging directory (DESTDIR).
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { TUPLE } from "../core/version.js";
import type { ToolchainInfo } from "./toolchain.js";

export type BuildSystem = "autotools" | "cmake" | "meson" | "make";

export interface BuildSystemRun {
  system: BuildSystem;
  /** The source directory (commands run in it; CMake and Meson build in its `_kiln`). */
  dir: string;
  tc: Pick<ToolchainInfo, "cmakeToolchainFile" | "mesonCrossFile">;
  /** Parallel jobs for make, ninja and cmake --build. */
  jobs: string;
  /** The project's own configure (make: build) arguments, after kiln's. */
  args?: readonly string[];
  /** Configure for `prefix`, then install into `stage` as DESTDIR, with `args` after kiln's install arguments. */
  install?: { prefix: string; stage: string; args?: readonly string[] };
  /**
   * Contract: run one command in `dir` with the toolchain's environment plus `env`, and reject if it fails.
   * The caller owns the environment (PATH to the toolchain, CC) and how failures are reported.
   */
  sh: (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => Promise<unknown>;
}

export async function runBuildSystem(o: BuildSystemRun): Promise<void> {
  const { sh, jobs, install } = o;
  const args = o.args ?? [];
  const installArgs = install?.args ?? [];
  const prefix = install?.prefix;
  switch (o.system) {
    case "autotools":
      if (!(await stat(join(o.dir, "configure")).catch(() => undefined))) await sh("autoreconf", ["-fi"]);
      await sh("./configure", [
        `--host=${TUPLE}`,
        ...(prefix ? [`--prefix=${prefix}`] : []),
        "--disable-shared",
        "--enable-static",
        ...args,
      ]);
      await sh("make", [`-j${jobs}`]);
      if (install) await sh("make", ["install", `DESTDIR=${install.stage}`, ...installArgs]);
      return;
    case "cmake":
      await sh("cmake", [
        "-S",
        ".",
        "-B",
        "_kiln",
        `-DCMAKE_TOOLCHAIN_FILE=${o.tc.cmakeToolchainFile}`,
        "-DCMAKE_BUILD_TYPE=MinSizeRel",
        ...(prefix ? [`-DCMAKE_INSTALL_PREFIX=${prefix}`] : []),
        ...args,
      ]);
      await sh("cmake", ["--build", "_kiln", "-j", jobs]);
      if (install) await sh("cmake", ["--install", "_kiln", ...installArgs], { DESTDIR: install.stage });
      return;
    case "meson":
      await sh("meson", [
        "setup",
        "_kiln",
        "--cross-file",
        o.tc.mesonCrossFile,
        ...(prefix ? [`--prefix=${prefix}`] : []),
        "--buildtype=minsize",
        ...args,
      ]);
      await sh("ninja", ["-C", "_kiln"]);
      if (install) await sh("meson", ["install", "-C", "_kiln", "--destdir", install.stage, ...installArgs]);
      return;
    case "make": {
      // A prefixed build also names the archiver and the prefix, as hand-written Makefiles expect either case.
      const prefixed = prefix ? [`AR=${TUPLE}-ar`, `PREFIX=${prefix}`, `prefix=${prefix}`] : [];
      await sh("make", [`-j${jobs}`, `CC=${TUPLE}-gcc`, ...prefixed, ...args]);
      if (install) {
        await sh("make", [
          "install",
          `DESTDIR=${install.stage}`,
          `PREFIX=${install.prefix}`,
          `prefix=${install.prefix}`,
          ...installArgs,
        ]);
      }
      return;
    }
  }
}
