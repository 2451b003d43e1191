/**
 * `kiln licenses IMAGE`: the licences in an image, each with the parts under it. A part under
 * "MIT AND ISC" is listed under both MIT and ISC; NOASSERTION (unknown) and NONE (kiln's generated data)
 * are groups of their own, so nothing is hidden.
 */
import { licenseLeaves, NOASSERTION, NONE, parseLicenseExpression } from "./licenseExpression.js";
import type { ImageParts, Part } from "./parts.js";

export interface LicenseGroup {
  license: string;
  parts: {
    id: string;
    kind: Part["kind"];
    name: string;
    version?: string;
    path?: string;
    expression: string;
  }[];
}

export interface LicenseReport {
  image: string;
  digest: string;
  licenses: LicenseGroup[];
  /** Parts whose licence is not known. */
  unknown: number;
}

export function licenseReport(img: ImageParts): LicenseReport {
  const groups = new Map<string, LicenseGroup>();
  let unknown = 0;
  for (const p of img.parts) {
    const leaves =
      p.license === NOASSERTION || p.license === NONE
        ? [p.license]
        : licenseLeaves(parseLicenseExpression(p.license).ast);
    if (p.license === NOASSERTION) unknown++;
    for (const l of leaves) {
      const g = groups.get(l) ?? { license: l, parts: [] };
      g.parts.push({
        id: p.id,
        kind: p.kind,
        name: p.name,
        ...(p.version ? { version: p.version } : {}),
        ...(p.path ? { path: p.path } : {}),
        expression: p.license,
      });
      groups.set(l, g);
    }
  }
  // Known licences by name, then NOASSERTION, then NONE: the ones to look at come last, where eyes land.
  const rank = (l: string) => (l === NONE ? 2 : l === NOASSERTION ? 1 : 0);
  const licenses = [...groups.values()].sort(
    (a, b) =>
      rank(a.license) - rank(b.license) || (a.license < b.license ? -1 : a.license > b.license ? 1 : 0),
  );
  return { image: img.name, digest: img.digest, licenses, unknown };
}
