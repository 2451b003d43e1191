/**
 * Asking Debian's apt about binary packages and downloading them: `apt-cache` (no root needed) for names,
 * candidate versions and the SHA256 the archive signs, `apt-get download` (no root either) for the .deb.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { parseParagraphs } from "../core/debPackage.js";
import { KilnError, q } from "../core/errors.js";
import { exec } from "../core/exec.js";

export interface AptPackage {
  name: string;
  version: string;
  sha256: string;
  size: number;
  source?: string;
}

function aptError(what: string, detail: string): KilnError {
  return new KilnError(
    "KILN_EAPT",
    `Cannot ${what}: ${detail}`,
    "Run `apt-get update` (as root) so that apt knows the current packages, or import a package with `kiln components fetch --deb FILE`.",
  );
}

/** The version apt would install (`apt-cache policy`'s Candidate), or undefined if it has none. */
export async function aptCandidate(name: string, env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  const r = await exec("apt-cache", ["policy", name], { env, check: false });
  const m = /^\s*Candidate:\s*(\S+)/m.exec(r.stdout);
  return m && m[1] !== "(none)" ? m[1] : undefined;
}

/** apt's record of one package version (its SHA256 is the one the signed archive index gives). */
export async function aptRecord(
  name: string,
  version: string,
  env?: NodeJS.ProcessEnv,
): Promise<AptPackage | undefined> {
  return (await aptRecords(`${name}=${version}`, env)).find((r) => r.name === name && r.version === version);
}

/** `apt-cache show SPEC`: every record it gives that carries a SHA256. */
async function aptRecords(spec: string, env?: NodeJS.ProcessEnv): Promise<AptPackage[]> {
  const r = await exec("apt-cache", ["show", spec], { env, check: false });
  if (r.code !== 0) return [];
  return parseParagraphs(r.stdout)
    .filter((p) => p.Package && p.Version && p.SHA256)
    .map((p) => ({
      name: p.Package!,
      version: p.Version!,
      sha256: p.SHA256!.toLowerCase(),
      size: Number(p.Size ?? 0),
      ...(p.Source ? { source: p.Source } : {}),
    }));
}

/**
 * The kernel package a meta package (linux-image-cloud-amd64) currently points at, in the version apt
 * would install: the meta package's candidate record (`apt-cache show --no-all-versions`, the version
 * `apt-cache policy` calls Candidate) names the kernel package and its exact version in Depends. Two
 * apt-cache calls in all: each costs ~0.4 s of CPU here (it reads every package list).
 */
export async function aptKernelPackage(meta: string, env?: NodeJS.ProcessEnv): Promise<AptPackage> {
  const r = await exec("apt-cache", ["show", "--no-all-versions", meta], { env, check: false });
  const depends = parseParagraphs(r.stdout).find((p) => p.Package === meta)?.Depends ?? "";
  const m = /(?:^|,)\s*(linux-image-[^\s(,|]+)(?:\s*\(\s*=\s*([^\s)]+)\s*\))?/.exec(depends);
  if (r.code !== 0 || !m) {
    throw aptError(
      `find the kernel package behind ${q(meta)}`,
      r.stderr.trim() || `its Depends names no linux-image package (${q(depends)})`,
    );
  }
  const name = m[1]!;
  const version = m[2] ?? (await aptCandidate(name, env));
  if (!version) throw aptError(`find a version of ${q(name)}`, "apt has no installation candidate");
  const rec = await aptRecord(name, version, env);
  if (!rec) throw aptError(`find the SHA256 of ${q(`${name}=${version}`)}`, "apt-cache show gives none");
  return rec;
}

/** Download one package version into `dir` (apt-get download writes into its working directory). */
export async function aptDownload(
  pkg: { name: string; version: string },
  dir: string,
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  const r = await exec("apt-get", ["download", "-q", `${pkg.name}=${pkg.version}`], {
    cwd: dir,
    env,
    check: false,
  });
  const debs = (await readdir(dir)).filter((f) => f.endsWith(".deb"));
  if (r.code !== 0 || debs.length !== 1) {
    throw new KilnError(
      "KILN_EDOWNLOAD",
      `Cannot download ${q(`${pkg.name}=${pkg.version}`)} with apt-get: ${r.stderr.trim().split("\n").slice(-3).join(" ") || `status ${r.code}`}`,
      "Check the network and apt's sources (`apt-get update`), or import the package with `kiln components fetch --deb FILE`.",
    );
  }
  return join(dir, debs[0]!);
}
