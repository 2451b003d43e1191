/**
 * Debian `copyright` files: the machine-readable format (DEP-5, copyright-format 1.0) parsed into its
 * paragraphs, and a package's licence as SPDX. A file that is not machine-readable (libc6's, gcc's) is
 * not an error: its licence is unknown, recorded as `LicenseRef-<package>-unknown` with the whole text kept,
 * so that nothing is claimed that the file does not say.
 */
import { debianLicenseField, licenseRefId } from "./debianLicense.js";
import { andLicenses } from "./licenseExpression.js";

/** One deb822 paragraph: field names as written (case kept), values with continuation lines joined by "\n". */
export type Dep5Paragraph = Map<string, string>;

export interface Dep5FilesParagraph {
  files: string[];
  copyright: string;
  /** The `License:` first line (the short name or names). */
  license: string;
  /** Text on the continuation lines of `License:`, if any. */
  text?: string;
}

export interface Dep5 {
  machineReadable: boolean;
  header: Dep5Paragraph;
  files: Dep5FilesParagraph[];
  /** Stand-alone `License:` paragraphs: short name → licence text. */
  licenses: Map<string, string>;
}

/**
 * Split deb822 text into paragraphs. Continuation lines start with a space or tab; a continuation line of
 * only " ." is an empty line; `#` lines are comments; blank (whitespace-only) lines end a paragraph.
 */
export function parseDeb822(text: string): Dep5Paragraph[] {
  const paras: Dep5Paragraph[] = [];
  let cur: Dep5Paragraph | undefined;
  let last: string | undefined;
  for (const raw of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s*$/.test(raw)) {
      cur = undefined;
      last = undefined;
      continue;
    }
    if (raw.startsWith("#")) continue;
    if (/^[ \t]/.test(raw)) {
      if (cur && last !== undefined) {
        const line = raw.trim() === "." ? "" : raw.replace(/^[ \t]/, "");
        cur.set(last, `${cur.get(last)}\n${line}`);
      }
      continue;
    }
    const m = /^([^:\s][^:]*):(.*)$/.exec(raw);
    if (!m) continue; // Not a field: ignore the line, as dpkg's lenient readers do.
    if (!cur) {
      cur = new Map();
      paras.push(cur);
    }
    last = m[1]!;
    cur.set(last, m[2]!.trim());
  }
  return paras;
}

function field(p: Dep5Paragraph, name: string): string | undefined {
  for (const [k, v] of p) if (k.toLowerCase() === name.toLowerCase()) return v;
  return undefined;
}

export function parseDep5(text: string): Dep5 {
  const paras = parseDeb822(text);
  const header = paras[0] ?? new Map();
  const format = field(header, "Format") ?? field(header, "Format-Specification") ?? "";
  const machineReadable = /copyright-format|dep5|dep-5/i.test(format);
  const files: Dep5FilesParagraph[] = [];
  const licenses = new Map<string, string>();
  if (machineReadable) {
    for (const p of paras.slice(1)) {
      const lic = field(p, "License");
      if (lic === undefined) continue;
      const [first, ...rest] = lic.split("\n");
      const body = rest.join("\n").trim();
      const f = field(p, "Files");
      if (f !== undefined) {
        files.push({
          files: f.split(/\s+/).filter(Boolean),
          copyright: field(p, "Copyright") ?? "",
          license: first!.trim(),
          ...(body ? { text: body } : {}),
        });
      } else if (first!.trim() && body) licenses.set(first!.trim(), body);
    }
  }
  return { machineReadable, header, files, licenses };
}

export interface DebianLicense {
  /** SPDX expression over every Files paragraph except Debian's own packaging (debian/*). */
  expression: string;
  /** SPDX expression of the `Files: *` paragraph (the package's main licence). */
  main: string;
  machineReadable: boolean;
  /** Each licence with its Debian name and text (from the stand-alone paragraph or inline), for bundles. */
  licenses: { id: string; debianName: string; known: boolean; text?: string }[];
}

/**
 * The SPDX licence of a Debian package from its copyright file. Unknown Debian names become
 * `LicenseRef-<name>` carrying their text; an unreadable (non-DEP-5) file becomes `LicenseRef-<pkg>-unknown`
 * carrying the whole file.
 */
export function debianPackageLicense(copyright: string, pkg: string): DebianLicense {
  const d = parseDep5(copyright);
  if (!d.machineReadable || d.files.length === 0) {
    const id = licenseRefId(`${pkg}-unknown`);
    return {
      expression: id,
      main: id,
      machineReadable: d.machineReadable,
      licenses: [{ id, debianName: `${pkg} (not machine-readable)`, known: false, text: copyright }],
    };
  }
  const texts = new Map(d.licenses);
  for (const f of d.files) if (f.text && !texts.has(f.license)) texts.set(f.license, f.text);
  const byId = new Map<string, DebianLicense["licenses"][number]>();
  const exprs: string[] = [];
  let main: string | undefined;
  for (const [i, f] of d.files.entries()) {
    // An empty short name (it happens) still gets an id of its own, so its text is not merged with another.
    const r = debianLicenseField(f.license || `${pkg}-unnamed-${i + 1}`);
    const packagingOnly = f.files.every((x) => x.startsWith("debian/"));
    if (f.files.includes("*")) main ??= r.expression;
    if (packagingOnly) continue;
    exprs.push(r.expression);
    for (const n of r.names) {
      if (byId.has(n.spdx)) continue;
      const text = texts.get(n.name) ?? (r.names.length === 1 ? f.text : undefined);
      byId.set(n.spdx, { id: n.spdx, debianName: n.name, known: n.known, ...(text ? { text } : {}) });
    }
  }
  const expression = andLicenses(exprs);
  return { expression, main: main ?? expression, machineReadable: true, licenses: [...byId.values()] };
}
