// Shared by the .deb end-to-end tests: an empty dpkg database under a scratch root, and dpkg run on it
// without root (--force-not-root) and without the host's packages (--force-depends).
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface DpkgRoot {
  root: string;
  /** The dpkg database (ROOT/var/lib/dpkg), for dpkg-query --admindir. */
  admin: string;
  dpkg(args: readonly string[]): SpawnSyncReturns<string>;
}

export function dpkgRoot(root: string): DpkgRoot {
  const admin = join(root, "var/lib/dpkg");
  for (const d of ["updates", "info"]) mkdirSync(join(admin, d), { recursive: true });
  writeFileSync(join(admin, "status"), "");
  writeFileSync(join(admin, "available"), "");
  return {
    root,
    admin,
    dpkg: (args) =>
      spawnSync(
        "dpkg",
        [
          "--force-not-root",
          "--force-depends",
          `--root=${root}`,
          `--admindir=${admin}`,
          "--log=/dev/null",
          ...args,
        ],
        { encoding: "utf8" },
      ),
  };
}
