/**
 * Package URLs for image parts (packageurl-js builds and escapes them). Debian parts carry the qualifiers
 * scanners match on: `arch`, `distro` (debian-12) and `upstream` (the source package, when it differs).
 */
import { PackageURL } from "packageurl-js";

export function debPurl(
  name: string,
  version: string,
  q: { arch?: string; release?: string; source?: string } = {},
): string {
  const qualifiers: Record<string, string> = {};
  if (q.arch) qualifiers.arch = q.arch;
  if (q.release && q.release !== "unknown") qualifiers.distro = `debian-${q.release}`;
  if (q.source && q.source !== name) qualifiers.upstream = q.source;
  return new PackageURL("deb", "debian", name, version, qualifiers, undefined).toString();
}

/** A generic purl; a part without a version is named by its content digest (`sha256:<hex>`). */
export function genericPurl(name: string, version?: string, sha256?: string): string {
  return new PackageURL(
    "generic",
    undefined,
    name,
    version ?? (sha256 ? `sha256:${sha256}` : undefined),
    undefined,
    undefined,
  ).toString();
}
