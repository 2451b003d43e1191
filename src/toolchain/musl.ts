import { access } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q } from "../core/errors.js";
import { exec } from "../core/exec.js";

/** Where Debian's musl-dev puts musl for x86_64 (the same paths its musl-gcc.specs names). */
export interface Musl {
  include: string;
  lib: string;
  /** "musl 1.2.3-1": upstream name and the Debian package version. */
  libc: string;
}

export const MUSL_INCLUDE = "/usr/include/x86_64-linux-musl";
export const MUSL_LIB = "/usr/lib/x86_64-linux-musl";

export async function findMusl(env: NodeJS.ProcessEnv): Promise<Musl> {
  for (const f of [join(MUSL_INCLUDE, "stdio.h"), join(MUSL_LIB, "libc.a"), join(MUSL_LIB, "crt1.o")]) {
    try {
      await access(f);
    } catch {
      throw new KilnError(
        "KILN_EMUSL_MISSING",
        `Cannot find musl: ${q(f)} is missing`,
        "Install Debian's musl: `apt-get install musl-tools musl-dev`.",
      );
    }
  }
  return { include: MUSL_INCLUDE, lib: MUSL_LIB, libc: `musl ${await muslVersion(env)}` };
}

async function muslVersion(env: NodeJS.ProcessEnv): Promise<string> {
  const r = await exec("dpkg-query", ["-W", "-f=$" + "{Version}", "musl-dev"], { check: false, env }).catch(
    () => undefined,
  );
  const v = r?.code === 0 ? r.stdout.trim() : "";
  return /^[0-9][A-Za-z0-9.+~:-]*$/.test(v) ? v : "unknown";
}
