import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";

let setpriv: string | null | undefined;

function findSetpriv(): string | null {
  if (setpriv === undefined) {
    setpriv = null;
    if (process.platform === "linux") {
      const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/bin"];
      setpriv = dirs.filter(Boolean).find((d) => executable(join(d, "setpriv")));
      setpriv = setpriv ? join(setpriv, "setpriv") : null;
    }
  }
  return setpriv;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether exec would find `cmd` the way the child looks it up (its PATH; a path with '/' from its cwd). */
function findable(cmd: string, opts: SpawnOptions): boolean {
  if (cmd.includes("/")) return executable(resolve(opts.cwd?.toString() ?? process.cwd(), cmd));
  const path = (opts.env ?? process.env).PATH ?? "/bin:/usr/bin";
  return path.split(delimiter).some((d) => executable(join(d || ".", cmd)));
}

/**
 * Start a tool that dies with kiln, even with a kiln killed by SIGKILL: util-linux's `setpriv --pdeathsig
 * SIGKILL` sets PR_SET_PDEATHSIG and execs the tool in the same process (same pid; 0.5 to 2 ms more per
 * spawn: bench/spawn.mjs). Only the tool itself is tied: its own children (make's compilers) finish their
 * current job. Where setpriv is missing, or the tool is not found (spawn's own ENOENT then says so), the
 * tool starts directly. Machines meant to outlive kiln (`kiln launch -d`) must not be started with this. Always give
 * the argument list (spawn's form without one is not supported).
 */
export const spawnChild = ((cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess => {
  const tie = findSetpriv();
  if (!tie || !findable(cmd, opts)) return spawn(cmd, args, opts);
  return spawn(tie, ["--pdeathsig", "SIGKILL", "--", cmd, ...args], opts);
}) as typeof spawn; // spawn's typing: its stdio options decide which of the child's streams are null
