import { homedir } from "node:os";
import { join } from "node:path";

/** KILN_HOME holds the store, toolchains, components and machine state. */
export function kilnHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KILN_HOME) return env.KILN_HOME;
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "kiln");
  return join(homedir(), ".local", "share", "kiln");
}

export const paths = {
  store: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "store"),
  toolchains: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "toolchains"),
  defaultToolchain: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "toolchains", "default"),
  components: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "components"),
  machines: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "machines"),
  cache: (env?: NodeJS.ProcessEnv) => join(kilnHome(env), "cache"),
};
