/**
 * What compliance needs to know about Debian packages: version, source package (Debian's security data
 * names SOURCE packages: `linux`, `musl`, `openssl`), and the copyright file. Passed in explicitly (tests,
 * or what bake recorded in the manifest) or read from this host with dpkg-query and /usr/share/doc.
 */
import { readFile } from "node:fs/promises";
import { exec } from "../core/exec.js";
import type { DebianFacts, DebPackageFacts } from "../manifest/imageManifest.js";

export type { DebianFacts, DebPackageFacts };

/** Parse /etc/os-release for Debian's VERSION_ID. */
export function osReleaseVersion(text: string): string | undefined {
  const m = /^VERSION_ID="?([^"\n]*)"?$/m.exec(text);
  return m?.[1] || undefined;
}

/**
 * Facts about `packages` as installed on this host. Packages that are not installed are left out (the
 * caller decides what that means); nothing here fails for a missing package.
 */
export async function hostDebianFacts(
  packages: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<DebianFacts> {
  const [osRelease, arch, query] = await Promise.all([
    readFile("/etc/os-release", "utf8").catch(() => ""),
    exec("dpkg", ["--print-architecture"], { env, check: false }).catch(() => undefined),
    packages.length
      ? exec(
          "dpkg-query",
          [
            "-W",
            // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template
            "-f=${Package}\\t${Version}\\t${source:Package}\\t${source:Version}\\t${db:Status-Status}\\n",
            ...packages,
          ],
          { env, check: false },
        ).catch(() => undefined)
      : Promise.resolve(undefined),
  ]);
  const facts: DebianFacts = {
    release: osReleaseVersion(osRelease) ?? "unknown",
    arch: arch?.code === 0 ? arch.stdout.trim() : "amd64",
    packages: {},
  };
  for (const line of (query?.stdout ?? "").split("\n")) {
    const [name, version, source, sourceVersion, status] = line.split("\t");
    if (!name || !version || status !== "installed" || facts.packages[name]) continue;
    const copyright = await readFile(`/usr/share/doc/${name}/copyright`, "utf8").catch(() => undefined);
    facts.packages[name] = {
      version,
      ...(source && source !== name ? { source } : {}),
      ...(sourceVersion && sourceVersion !== version ? { sourceVersion } : {}),
      ...(copyright ? { copyright } : {}),
    };
  }
  return facts;
}

/**
 * Source package names of Debian binary packages, for `kiln audit --deb libssl3=...` (advisories name
 * `openssl`): from dpkg for installed packages, then from apt's lists (`apt-cache show`) for the others.
 * Names neither knows are left out.
 */
export async function debSourceNames(
  names: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (names.length === 0) return out;
  const installed = await exec(
    "dpkg-query",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template
    ["-W", "-f=${Package}\\t${source:Package}\\n", ...names],
    { env, check: false },
  ).catch(() => undefined);
  for (const line of (installed?.stdout ?? "").split("\n")) {
    const [pkg, source] = line.split("\t");
    if (pkg && source) out[pkg] = source;
  }
  const rest = names.filter((n) => !out[n]);
  if (rest.length === 0) return out;
  const r = await exec("apt-cache", ["show", "--no-all-versions", ...rest], { env, check: false }).catch(
    () => undefined,
  );
  for (const stanza of (r?.stdout ?? "").split(/\n\s*\n/)) {
    const pkg = /^Package: *(\S+)/m.exec(stanza)?.[1];
    if (!pkg || out[pkg]) continue;
    out[pkg] = /^Source: *(\S+)/m.exec(stanza)?.[1] ?? pkg;
  }
  return out;
}

/**
 * hostDebianFacts, remembered under KILN_HOME until dpkg's database changes: every bake records these
 * facts, and asking dpkg costs two processes (more than the rest of a bake). dpkg replaces its status file
 * by a rename on every change, so its (device, inode, size, mtime in ns) changes with any install, removal
 * or upgrade; /etc/os-release gives the release.
 */
export async function cachedHostDebianFacts(
  packages: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<DebianFacts> {
  const { stat } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { paths } = await import("../core/paths.js");
  const { writeFileAtomic } = await import("../core/atomic.js");
  const stamp = async (p: string) =>
    stat(p, { bigint: true }).then(
      (s) => `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`,
      () => "-",
    );
  // dpkg-query reads DPKG_ADMINDIR's database when it is set, so the key follows it too.
  const status = join(env.DPKG_ADMINDIR || "/var/lib/dpkg", "status");
  const key = JSON.stringify([packages, status, await stamp(status), await stamp("/etc/os-release")]);
  const file = join(paths.cache(env), "debian-facts.json");
  try {
    const cached = JSON.parse(await readFile(file, "utf8")) as { key: string; facts: DebianFacts };
    if (cached.key === key) return cached.facts;
  } catch {}
  const facts = await hostDebianFacts(packages, env);
  await writeFileAtomic(file, JSON.stringify({ key, facts }));
  return facts;
}
