/**
 * Debian binary packages written by kiln (ar + tar + gzip, no dpkg-deb needed): sorted entries, root
 * owners and one fixed time (SOURCE_DATE_EPOCH when set), so the same files make the same bytes. The
 * caller gives the payload and the control fields; this adds the directories, Installed-Size, md5sums and
 * the debian-binary member, as dpkg-deb would.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { arArchive } from "./arWriter.js";
import { q, usageError } from "./errors.js";
import { type TarEntry, tarBuffer } from "./tarWriter.js";

/** 2024-01-01T00:00:00Z: a fixed time for every entry (lintian calls files from 1970 "ancient"). */
export const DEB_DEFAULT_MTIME = 1_704_067_200;

const NAME_RE = /^[a-z0-9][a-z0-9+.-]{0,50}$/;
const VERSION_RE = /^(?:\d+:)?[0-9][A-Za-z0-9.+~-]*$/;

/** One thing the package installs; `path` is relative to the root (no leading slash). */
export type DebPayload =
  | { path: string; data: Uint8Array; mode?: number }
  | { path: string; symlink: string };

export interface DebSpec {
  /**
   * Control fields in order, Description last (its value: the synopsis line, then the long text, which
   * deb822Block indents). Installed-Size is computed and put after Maintainer.
   */
  fields: [string, string][];
  payload: DebPayload[];
  mtime: number;
}

export interface DebResult {
  deb: Buffer;
  control: string;
}

/** The time every entry carries: SOURCE_DATE_EPOCH when set, else a fixed date. */
export function debMtime(env: NodeJS.ProcessEnv): number {
  return /^\d+$/.test(env.SOURCE_DATE_EPOCH ?? "") ? Number(env.SOURCE_DATE_EPOCH) : DEB_DEFAULT_MTIME;
}

/** Maintainer: given, else DEBFULLNAME <DEBEMAIL> (as dch reads them), else a placeholder. */
export function debMaintainer(env: NodeJS.ProcessEnv, given?: string): string {
  return (
    given ??
    (env.DEBFULLNAME && env.DEBEMAIL ? `${env.DEBFULLNAME} <${env.DEBEMAIL}>` : "kiln <kiln@localhost>")
  );
}

export function checkDebName(name: string, what: string, hint: string): void {
  if (!NAME_RE.test(name)) {
    throw usageError(
      "KILN_EDEB_NAME",
      `Cannot make a Debian package for ${what} ${q(name)}: package names are lowercase letters, digits and + . -`,
      hint,
    );
  }
}

export function checkDebVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw usageError(
      "KILN_EDEB_VERSION",
      `Cannot use ${q(version)} as a Debian package version`,
      "Use a version like 1.0-1 (digits first; letters, digits and . + ~ - after).",
    );
  }
}

/** deb822 continuation: each line indented, empty lines as " .". */
export function deb822Block(text: string): string {
  return text
    .replace(/\s+$/, "")
    .split("\n")
    .map((l) => (l.trim() ? ` ${l}` : " ."))
    .join("\n");
}

/** Greedy word wrap for deb822 descriptions (lintian wants lines under 80 columns). */
export function wrapText(text: string, width: number): string {
  const out: string[] = [];
  let line = "";
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) {
      out.push(line);
      line = w;
    } else {
      line = line ? `${line} ${w}` : w;
    }
  }
  if (line) out.push(line);
  return out.join("\n");
}

/**
 * Where policy wants the changelog: /usr/share/doc/PKG/changelog.gz for a native version (no Debian
 * revision), changelog.Debian.gz for one with a revision (lintian: debian-changelog-file-missing-or-wrong-name).
 */
export function changelogName(version: string): string {
  return version.replace(/^\d+:/, "").includes("-") ? "changelog.Debian.gz" : "changelog.gz";
}

/** A one-entry changelog, gzipped; the entry wrapped as dch does, under 80 columns. */
export function oneEntryChangelog(
  pkg: string,
  version: string,
  entry: string,
  maintainer: string,
  mtime: number,
): Buffer {
  const date = new Date(mtime * 1000).toUTCString().replace("GMT", "+0000");
  const item = wrapText(entry, 74).replaceAll("\n", "\n    ");
  return gzipSync(
    `${pkg} (${version}) unstable; urgency=medium\n\n  * ${item}\n\n -- ${maintainer}  ${date}\n`,
    { level: 9 },
  );
}

/** As dpkg-gencontrol counts: each file's size rounded up to KiB, one KiB per directory and symlink. */
function installedSizeKiB(payload: readonly DebPayload[], dirs: number): number {
  let kib = dirs;
  for (const p of payload) kib += "data" in p ? Math.ceil(p.data.length / 1024) : 1;
  return kib;
}

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");

/** The control file text: fields in order, Installed-Size after Maintainer. */
function controlText(fields: readonly [string, string][], installedSize: number): string {
  const out: string[] = [];
  for (const [k, v] of fields) {
    out.push(`${k}: ${v}`);
    if (k === "Maintainer") out.push(`Installed-Size: ${installedSize}`);
  }
  return `${out.join("\n")}\n`;
}

/** Build the .deb in memory. */
export async function buildDebArchive(spec: DebSpec): Promise<DebResult> {
  const dirs = new Set<string>();
  for (const p of spec.payload) {
    if (p.path.startsWith("/") || p.path.split("/").some((s) => s === "" || s === "." || s === "..")) {
      throw new Error(`deb payload path ${p.path} is not a plain relative path`);
    }
    const parts = p.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const owner = { uname: "root", gname: "root" };
  const data: TarEntry[] = [
    { name: "./", type: "directory", ...owner },
    ...[...dirs].map((d) => ({ name: `./${d}/`, type: "directory" as const, ...owner })),
    ...spec.payload.map(
      (p): TarEntry =>
        "data" in p
          ? { name: `./${p.path}`, data: p.data, mode: p.mode ?? 0o644, ...owner }
          : { name: `./${p.path}`, type: "symlink", linkname: p.symlink, ...owner },
    ),
  ];
  const control = controlText(spec.fields, installedSizeKiB(spec.payload, dirs.size));
  const md5sums = spec.payload
    .flatMap((p) => ("data" in p ? [`${md5(p.data)}  ${p.path}\n`] : []))
    .sort()
    .join("");
  const controlTar = await tarBuffer(
    [
      { name: "./", type: "directory", ...owner },
      { name: "./control", data: Buffer.from(control), ...owner },
      { name: "./md5sums", data: Buffer.from(md5sums), ...owner },
    ],
    { mtime: spec.mtime },
  );
  const dataTar = await tarBuffer(data, { mtime: spec.mtime });
  const deb = arArchive(
    [
      { name: "debian-binary", data: Buffer.from("2.0\n") },
      { name: "control.tar.gz", data: gzipSync(controlTar, { level: 9 }) },
      { name: "data.tar.gz", data: gzipSync(dataTar, { level: 6 }) },
    ],
    spec.mtime,
  );
  return { deb, control };
}
