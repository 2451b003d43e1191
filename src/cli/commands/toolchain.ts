import type { Command } from "commander";
import type { ToolchainInfo } from "../../toolchain/toolchain.js";
import { type CommonOpts, progressFor, report, table, withCommon } from "../context.js";

interface ToolchainOpts extends CommonOpts {
  cc?: string;
  dir?: string;
  force?: boolean;
  deb?: boolean;
  out?: string;
  cxx?: boolean;
}

export function register(program: Command): void {
  const cmd = withCommon(program.command("toolchain"))
    .description(
      "write the x86_64-kiln-linux-musl toolchain: static musl programs from the host gcc or clang",
    )
    .option("--cc <compiler>", "backing compiler: gcc, gcc-12, clang or a path (default: $CC, else gcc)")
    .option("--dir <dir>", "where to write it (default: KILN_HOME/toolchains/default)")
    .option(
      "--force",
      "replace an existing directory (with --deb: the -o file, even if kiln did not write it)",
    )
    .option(
      "--cxx",
      "also build the C++ runtime (libstdc++ for musl from Debian's gcc-12-source; minutes, once) for the g++ wrapper",
    )
    .option("--deb", "write a Debian package of the toolchain (installs in /usr/lib/kiln/toolchain) instead")
    .option("-o, --out <file>", "with --deb: the package file (default: PACKAGE_VERSION_amd64.deb here)")
    .enablePositionalOptions()
    .addHelpText(
      "after",
      '\nExample:\n  kiln toolchain --cc clang\n  kiln toolchain --cxx && x86_64-kiln-linux-musl-g++ -O2 hello.cc -o hello\n  eval "$(kiln toolchain env)" && make CC=x86_64-kiln-linux-musl-gcc\n  kiln toolchain --deb -o kiln-toolchain.deb && dpkg -i kiln-toolchain.deb',
    )
    .action(async (opts: ToolchainOpts) => {
      if (opts.deb || opts.out !== undefined) return packageAction(opts);
      const { writeToolchainDetailed, writeToolchainWithCxx } = await import("../../toolchain/toolchain.js");
      const progress = await progressFor(opts);
      let res: { info: ToolchainInfo; written: boolean };
      try {
        if (opts.cxx) {
          res = await writeToolchainWithCxx({ cc: opts.cc, dir: opts.dir, force: opts.force, progress });
        } else {
          progress.step(`preparing the ${opts.dir ? "" : "default "}toolchain`);
          res = await writeToolchainDetailed({ cc: opts.cc, dir: opts.dir, force: opts.force });
        }
      } catch (e) {
        progress.fail();
        throw e;
      }
      const { info, written } = res;
      progress.done(
        `${written ? "wrote the toolchain" : "the toolchain is up to date"} over ${info.backing.kind} ${info.backing.version}`,
      );
      report(opts, { ...info, written }, (i) => {
        const env = opts.dir ? `kiln toolchain env --dir ${shellWord(i.dir)}` : "kiln toolchain env";
        return `${table([
          ["toolchain", i.dir],
          ["tuple", i.tuple],
          ["cc", i.cc],
          ["backing", `${i.backing.kind} ${i.backing.version} (${i.backing.path})`],
          ["libc", i.libc],
          [
            "c++",
            i.cxx.state === "ready"
              ? `${i.cxx.compiler} (${i.cxx.runtime})`
              : i.cxx.state === "on-first-use"
                ? `${i.cxx.compiler} (builds the C++ runtime on first use, or now: kiln toolchain --cxx)`
                : `not available: ${i.cxx.why}`,
          ],
          ["cmake", i.cmakeToolchainFile],
          ["meson", i.mesonCrossFile],
          ["prefix", i.prefix],
        ])}\n\nPut it on PATH with:  eval "$(${env})"`;
      });
    });

  withCommon(cmd.command("env"))
    .description("print the shell line that puts the toolchain's bin directory on PATH")
    .option(
      "--dir <dir>",
      "a toolchain written with --dir (default: the default toolchain, written if missing)",
    )
    .addHelpText("after", '\nExample:\n  eval "$(kiln toolchain env)"')
    .action(async (opts: CommonOpts & { dir?: string }) => {
      const { ensureToolchain, readToolchain } = await import("../../toolchain/toolchain.js");
      const info = opts.dir ? await readToolchain(opts.dir) : await ensureToolchain();
      const line = `export PATH=${shellWord(info.bin)}:"$PATH"`;
      report(opts, { bin: info.bin, dir: info.dir, shell: line }, (d) => d.shell);
    });
}

async function packageAction(opts: ToolchainOpts): Promise<void> {
  const { usageError } = await import("../../core/errors.js");
  if (!opts.deb) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      "Cannot use -o without --deb",
      "Add --deb: kiln toolchain --deb -o FILE.",
    );
  }
  if (opts.dir !== undefined) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      "Cannot use --dir with --deb: the package installs in /usr/lib/kiln/toolchain",
      "Drop it; -o names the package file.",
    );
  }
  const { writeToolchainDeb } = await import("../../toolchain/toolchainDeb.js");
  const progress = await progressFor(opts);
  let r: Awaited<ReturnType<typeof writeToolchainDeb>>;
  try {
    r = await writeToolchainDeb(opts.out, {
      ...(opts.cc ? { cc: opts.cc } : {}),
      ...(opts.force ? { force: true } : {}),
      ...(opts.cxx ? { cxx: true } : {}),
      progress,
    });
  } catch (e) {
    progress.fail();
    throw e;
  }
  progress.done(`wrote ${r.package} ${r.version}`);
  report(opts, r, (d) =>
    table([
      ["package", `${d.package} ${d.version}`],
      ["file", d.out],
      ["size", `${(d.size / 1024).toFixed(1)} KiB`],
      ["sha256", d.sha256],
      ["installs", d.toolchain.dir],
      ["depends", d.depends.join(", ")],
    ]),
  );
}

function shellWord(s: string): string {
  return /^[A-Za-z0-9_./+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
