/**
 * Debian's licence short names (DEP-5 `License:` first lines) to SPDX. Debian's names predate SPDX and
 * differ in ways that matter: `GPL-2` is GPL-2.0-only, `GPL-2+` is GPL-2.0-or-later, `Expat` is MIT, and
 * spdx-correct alone gets some of these wrong (it turns `GPL-2+` into GPL-2.0-only), so the known names
 * are mapped here first and spdx-correct is only asked about plain names without "+" or "or"/"and" inside.
 * What stays unknown becomes `LicenseRef-<name>`, never a guess.
 */
import parse from "spdx-expression-parse";
import { renderLicense, spdxCorrect } from "./licenseExpression.js";

/** Families whose SPDX ids take `-only` / `-or-later`. */
const FSF: Record<string, string> = { gpl: "GPL", lgpl: "LGPL", agpl: "AGPL", gfdl: "GFDL" };

/** Debian names with no version arithmetic (lower-case keys). */
const FIXED: Record<string, string> = {
  expat: "MIT",
  mit: "MIT",
  x11: "X11",
  "public-domain": "LicenseRef-public-domain",
  "bsd-2": "BSD-2-Clause",
  "bsd-3": "BSD-3-Clause",
  "bsd-4": "BSD-4-Clause",
  "bsd-2-clause": "BSD-2-Clause",
  "bsd-3-clause": "BSD-3-Clause",
  "bsd-4-clause": "BSD-4-Clause",
  "bsd-4-clause-uc": "BSD-4-Clause-UC",
  zlib: "Zlib",
  isc: "ISC",
  "apache-2": "Apache-2.0",
  "apache-2.0": "Apache-2.0",
  "apache-1.1": "Apache-1.1",
  artistic: "Artistic-1.0-Perl",
  "artistic-1": "Artistic-1.0",
  "artistic-1.0": "Artistic-1.0",
  "artistic-2": "Artistic-2.0",
  "artistic-2.0": "Artistic-2.0",
  perl: "Artistic-1.0-Perl OR GPL-1.0-or-later",
  cc0: "CC0-1.0",
  "cc0-1.0": "CC0-1.0",
  "mpl-1.1": "MPL-1.1",
  "mpl-2.0": "MPL-2.0",
  "mpl-2": "MPL-2.0",
  "epl-1.0": "EPL-1.0",
  "epl-2.0": "EPL-2.0",
  "cddl-1.0": "CDDL-1.0",
  "bsl-1.0": "BSL-1.0",
  "python-2.0": "Python-2.0",
  python: "Python-2.0",
  openssl: "OpenSSL",
  curl: "curl",
  "openldap-2.8": "OLDAP-2.8",
  unicode: "Unicode-DFS-2016",
  "zope-2.1": "ZPL-2.1",
  w3c: "W3C",
  fsfap: "FSFAP",
  fsfullr: "FSFULLR",
  fsful: "FSFUL",
};

/** SPDX exceptions Debian copyright files name in "with X exception". */
const EXCEPTIONS: Record<string, string> = {
  autoconf: "Autoconf-exception-generic",
  "autoconf-3": "Autoconf-exception-3.0",
  bison: "Bison-exception-2.2",
  "gcc-3.1": "GCC-exception-3.1",
  gcc: "GCC-exception-3.1",
  libtool: "Libtool-exception",
  "linux-syscall-note": "Linux-syscall-note",
  llvm: "LLVM-exception",
  texinfo: "Texinfo-exception",
  font: "Font-exception-2.0",
  classpath: "Classpath-exception-2.0",
};

/** A string usable as the idstring of `LicenseRef-<idstring>` (letters, digits, "." and "-"). */
export function licenseRefId(name: string): string {
  const id = name
    .replace(/\+/g, "-plus")
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  return `LicenseRef-${id || "unnamed"}`;
}

function isExpression(e: string): boolean {
  try {
    parse(e);
    return true;
  } catch {
    return false;
  }
}

function isSpdxId(id: string): boolean {
  try {
    const r = parse(id) as { license?: string; plus?: boolean };
    return r.license === id && !r.plus;
  } catch {
    return false;
  }
}

/** The SPDX expression for one Debian short name (no and/or), and whether it was recognised. */
export function debianNameToSpdx(name: string): { spdx: string; known: boolean } {
  const n = name.trim().replace(/\s+/g, " ");
  // "GPL-2+ with Autoconf exception"
  const withM = /^(.+?)[ -]with[ -](.+?)[ -]exception$/i.exec(n);
  if (withM) {
    const base = debianNameToSpdx(withM[1]!);
    const exc = EXCEPTIONS[withM[2]!.toLowerCase()];
    const spdx = `${base.spdx} WITH ${exc}`;
    if (base.known && exc && !/\s/.test(base.spdx) && isExpression(spdx)) return { spdx, known: true };
    return { spdx: licenseRefId(n), known: false };
  }
  const lower = n.toLowerCase();
  const fixed = FIXED[lower];
  if (fixed) return { spdx: fixed, known: true };
  // GPL-2, GPL-2+, GPLv3+, LGPL-2.1+, GPL-2.0+, AGPL-3, GFDL-1.3, GFDL-NIV-1.3+
  const fsf = /^(a?l?gpl|gfdl)(-niv)?[-v]?(\d)(?:\.(\d))?(\+)?$/i.exec(n);
  if (fsf) {
    const fam = FSF[fsf[1]!.toLowerCase()]!;
    const major = fsf[3]!;
    const minor = fsf[4] ?? (fam === "LGPL" && major === "2" ? "0" : fam === "GFDL" ? "" : "0");
    const version = minor === "" ? `${major}` : `${major}.${minor}`;
    const niv = fsf[2] ? "-no-invariants" : "";
    const id = `${fam}-${version}${niv}-${fsf[5] ? "or-later" : "only"}`;
    if (isSpdxId(id)) return { spdx: id, known: true };
  }
  if (isSpdxId(n)) return { spdx: n, known: true };
  // Case differences only ("BSD-3-clause", "ZLIB", "apache-2.0").
  if (!/[+\s]/.test(n)) {
    const corrected = spdxCorrect(n, { upgrade: true });
    if (corrected && corrected.toLowerCase().replace(/-only$/, "") === lower.replace(/-only$/, ""))
      return { spdx: corrected, known: true };
    // Plain names only: spdx-correct maps "GPL-2+-or-X11" to GPL-2.0-only, which would be wrong.
    if (corrected && !/-or-|-and-|\bor\b|\band\b/i.test(n) && /\d/.test(n) === /\d/.test(corrected))
      return { spdx: corrected, known: true };
  }
  return { spdx: licenseRefId(n), known: false };
}

export interface DebianLicenseField {
  /** SPDX expression for the whole field. */
  expression: string;
  /** The Debian short names in it, each with its SPDX form. */
  names: { name: string; spdx: string; known: boolean }[];
}

/**
 * A whole `License:` first line: short names joined by "or" / "and", where "and" binds tighter than "or"
 * and a comma ends a group ("A or B, and C" is "(A or B) and C"), as DEP-5 defines.
 */
export function debianLicenseField(field: string): DebianLicenseField {
  const names: DebianLicenseField["names"] = [];
  const one = (s: string) => {
    const r = debianNameToSpdx(s);
    names.push({ name: s.trim(), ...r });
    return /\s(OR|AND)\s/.test(r.spdx) ? `(${r.spdx})` : r.spdx;
  };
  const group = (s: string) =>
    s
      .split(/\s+or\s+/i)
      .map((alt) =>
        alt
          .split(/\s+and\s+/i)
          .map((x) => one(x))
          .join(" AND "),
      )
      .join(" OR ");
  const groups = field
    .trim()
    .split(/,\s*(?=(?:and|or)\s)/i)
    .map((g, i) => {
      const m = i === 0 ? null : /^(and|or)\s+(.*)$/is.exec(g);
      return { conj: m ? m[1]!.toUpperCase() : "", text: m ? m[2]! : g };
    });
  let expr = "";
  for (const g of groups) {
    const e = group(g.text);
    expr = expr ? `(${expr}) ${g.conj} (${e})` : e;
  }
  try {
    expr = renderLicense(parse(expr));
  } catch {
    // Unparseable only if a mapped name is odd; keep it as text rather than lose it.
  }
  return { expression: expr, names };
}
