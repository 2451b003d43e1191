/**
 * What a distributor ships beside an image: the text of every licence its parts are under, and the
 * copyright files of the Debian packages they came from (GPL-2.0 and the BSD licences require passing on
 * the notices, not just the licence name). Texts come from Debian's /usr/share/common-licenses, then from
 * the texts the copyright files carry; a licence whose text was found nowhere is listed as missing.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { licenseLeaves, NOASSERTION, NONE, parseLicenseExpression } from "./licenseExpression.js";
import type { ImageParts } from "./parts.js";

/** SPDX ids whose full text Debian keeps in /usr/share/common-licenses (file name there). */
const COMMON: Record<string, string> = {
  "Apache-2.0": "Apache-2.0",
  "Artistic-1.0-Perl": "Artistic",
  "Artistic-2.0": "Artistic-2.0",
  "CC0-1.0": "CC0-1.0",
  "GFDL-1.2": "GFDL-1.2",
  "GFDL-1.3": "GFDL-1.3",
  "GPL-1.0": "GPL-1",
  "GPL-2.0": "GPL-2",
  "GPL-3.0": "GPL-3",
  "LGPL-2.0": "LGPL-2",
  "LGPL-2.1": "LGPL-2.1",
  "LGPL-3.0": "LGPL-3",
  "MPL-1.1": "MPL-1.1",
  "MPL-2.0": "MPL-2.0",
};

/** "GPL-2.0-or-later" → "GPL-2.0", "GFDL-1.3-no-invariants-only" → "GFDL-1.3": the licence text's name. */
function textKey(id: string): string {
  return id
    .replace(/-(only|or-later)$/, "")
    .replace(/-(no-)?invariants$/, "")
    .replace(/\+$/, "");
}

export interface LicenseBundle {
  /** Relative file name → content: `LICENSES/<id>.txt`, `copyright/<debian-package>`. */
  files: Record<string, string>;
  /** Licences used by parts whose text was not found. */
  missing: string[];
}

export async function licenseTexts(
  img: ImageParts,
  opts: { commonLicenses?: string } = {},
): Promise<LicenseBundle> {
  const dir = opts.commonLicenses ?? "/usr/share/common-licenses";
  const ids = new Set<string>();
  for (const p of img.parts) {
    if (p.license === NOASSERTION || p.license === NONE) continue;
    for (const leaf of licenseLeaves(parseLicenseExpression(p.license).ast)) {
      const [lic, exc] = leaf.split(" WITH ");
      ids.add(lic!.replace(/\+$/, ""));
      if (exc) ids.add(exc);
    }
  }
  const files: Record<string, string> = {};
  const missing: string[] = [];
  for (const id of [...ids].sort()) {
    const common = COMMON[textKey(id)];
    let text = common ? await readFile(join(dir, common), "utf8").catch(() => undefined) : undefined;
    text ??= img.licenseTexts[id];
    if (text === undefined) missing.push(id);
    else files[`LICENSES/${id}.txt`] = text.endsWith("\n") ? text : `${text}\n`;
  }
  for (const [pkg, text] of Object.entries(img.copyrights).sort(([a], [b]) => (a < b ? -1 : 1))) {
    files[`copyright/${pkg}`] = text;
  }
  return { files, missing };
}
