import { realpath } from "node:fs/promises";
import { basename } from "node:path";
import { q, usageError } from "../core/errors.js";
import { exec, which } from "../core/exec.js";

export type CompilerKind = "gcc" | "clang";

export interface BackingCompiler {
  kind: CompilerKind;
  /** The compiler as found on PATH (or given), absolute; wrappers exec this path. */
  path: string;
  version: string;
}

const INSTALL_HINT =
  "Install one (`apt-get install gcc` or `apt-get install clang`) or name it with --cc or $CC.";

/** Find the compiler a user named (`gcc`, `gcc-12`, `clang`, a path); missing is KILN_ECC_NOT_FOUND. */
export async function resolveCompiler(name: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!name.trim())
    throw usageError("KILN_ECC_NOT_FOUND", `Cannot use compiler ${q(name)}: empty name`, INSTALL_HINT);
  const found = await which(name, env.PATH ?? "");
  if (!found) {
    throw usageError(
      "KILN_ECC_NOT_FOUND",
      `Cannot find compiler ${q(name)}${name.includes("/") ? "" : " on PATH"}`,
      INSTALL_HINT,
    );
  }
  return found;
}

/**
 * Tell gcc from clang by what the compiler says about itself (`-v` names "gcc version" or "clang version"),
 * and insist on an x86_64 Linux target. Anything else (tcc, /bin/true, a cross compiler, kiln's own
 * wrapper) is KILN_ECC_UNSUPPORTED.
 */
export async function detectCompiler(name: string, env: NodeJS.ProcessEnv): Promise<BackingCompiler> {
  const path = await resolveCompiler(name, env);
  const real = await realpath(path).catch(() => path);
  if (/-kiln-linux-musl-/.test(basename(path)) || /-kiln-linux-musl-/.test(basename(real))) {
    throw usageError(
      "KILN_ECC_UNSUPPORTED",
      `Cannot build a kiln toolchain on ${q(path)}: it is a kiln wrapper itself`,
      "Name the host compiler instead, e.g. --cc gcc or --cc clang (check $CC).",
    );
  }
  const unsupported = (why: string) =>
    usageError(
      "KILN_ECC_UNSUPPORTED",
      `Cannot build a kiln toolchain on ${q(name)}: ${why}`,
      "kiln drives gcc or clang for x86_64 Linux: use --cc gcc or --cc clang.",
    );
  const v = await exec(path, ["-v"], { check: false, env, timeoutMs: 20_000 }).catch(() => undefined);
  const said = v ? `${v.stdout}\n${v.stderr}` : "";
  let kind: CompilerKind;
  let version: string;
  const clang = /(?:^|\s)clang version (\d[^\s]*)/m.exec(said);
  const gcc = /^gcc version (\d[^\s]*)/m.exec(said);
  if (clang) {
    kind = "clang";
    version = clang[1]!;
  } else if (gcc) {
    kind = "gcc";
    version = gcc[1]!;
  } else {
    throw unsupported("it is neither gcc nor clang (`-v` names no gcc or clang version)");
  }
  const m = await exec(path, ["-dumpmachine"], { check: false, env, timeoutMs: 20_000 });
  const machine = m.stdout.trim();
  if (m.code !== 0 || !/^x86_64-.*linux/.test(machine)) {
    throw unsupported(`it targets ${q(machine || "an unknown machine")}, not x86_64 Linux`);
  }
  return { kind, path, version };
}
