import { constants } from "node:fs";
import { access, readFile } from "node:fs/promises";
import { which } from "./exec.js";
import { type Startup, startup } from "./startup.js";

export interface Check {
  kind: "cmd" | "file" | "dev";
  what: string;
  package: string;
  required: boolean;
  purpose: string;
  ok: boolean;
  found?: string;
  note?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: Check[];
  /** The one command that installs everything missing (required and optional), or undefined. */
  install?: string;
  installRequired?: string;
  /** Whether kiln itself started from its snapshot (about 40 ms sooner per command), and if not, why. */
  startup: Startup;
}

const TABLE = new URL("../../data/prerequisites.tsv", import.meta.url);

async function probe(
  kind: Check["kind"],
  what: string,
): Promise<{ ok: boolean; found?: string; note?: string }> {
  if (kind === "cmd") {
    const found = await which(what);
    return found ? { ok: true, found } : { ok: false };
  }
  try {
    await access(what, kind === "dev" ? constants.R_OK | constants.W_OK : constants.R_OK);
    return { ok: true, found: what };
  } catch {
    return {
      ok: false,
      ...(kind === "dev" ? { note: "not usable: guests run under software emulation" } : {}),
    };
  }
}

/** Check every host prerequisite listed in data/prerequisites.tsv. */
export async function doctor(): Promise<DoctorReport> {
  const rows = (await readFile(TABLE, "utf8")).split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  const checks = await Promise.all(
    rows.map(async (line) => {
      const [kind, what, pkg, need, purpose] = line.split("\t") as [
        Check["kind"],
        string,
        string,
        string,
        string,
      ];
      return {
        kind,
        what,
        package: pkg,
        required: need === "required",
        purpose,
        ...(await probe(kind, what)),
      };
    }),
  );
  const pkgs = (cs: Check[]) =>
    [...new Set(cs.filter((c) => !c.ok && c.package !== "-").map((c) => c.package))].sort();
  const all = pkgs(checks);
  const req = pkgs(checks.filter((c) => c.required));
  return {
    ok: req.length === 0,
    checks,
    ...(all.length ? { install: `apt-get install -y ${all.join(" ")}` } : {}),
    ...(req.length ? { installRequired: `apt-get install -y ${req.join(" ")}` } : {}),
    startup: startup(),
  };
}
