/**
 * SPDX 2.3 JSON for an image, written by hand (no maintained library writes 2.3 JSON). Deterministic: the
 * namespace comes from the image digest, the creation time from the image, every list is in a fixed order.
 * Shape: the image is a package the document DESCRIBES; it CONTAINS the kernel, kiln-init, the programs,
 * library packages and loose files; packages CONTAIN their files (the kernel its modules); programs and
 * kiln-init STATIC_LINK musl. Every initrd file is an SPDX file with SHA1 (required) and SHA256.
 */
import { createHash } from "node:crypto";
import { KILN_VERSION } from "../core/version.js";
import { licenseLeaves, NOASSERTION, parseLicenseExpression } from "./licenseExpression.js";
import type { ImageParts, Part } from "./parts.js";

interface SpdxChecksum {
  algorithm: "SHA1" | "SHA256";
  checksumValue: string;
}

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  supplier?: string;
  downloadLocation: string;
  filesAnalyzed: boolean;
  packageVerificationCode?: { packageVerificationCodeValue: string };
  checksums?: SpdxChecksum[];
  sourceInfo?: string;
  licenseConcluded: string;
  licenseDeclared: string;
  copyrightText: string;
  externalRefs?: { referenceCategory: string; referenceType: string; referenceLocator: string }[];
  primaryPackagePurpose?: string;
  comment?: string;
}

interface SpdxFile {
  SPDXID: string;
  fileName: string;
  fileTypes: string[];
  checksums: SpdxChecksum[];
  licenseConcluded: string;
  licenseInfoInFiles: string[];
  copyrightText: string;
  comment?: string;
}

export interface SpdxDocument {
  spdxVersion: "SPDX-2.3";
  dataLicense: "CC0-1.0";
  SPDXID: "SPDXRef-DOCUMENT";
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  packages: SpdxPackage[];
  files: SpdxFile[];
  hasExtractedLicensingInfos?: { licenseId: string; extractedText: string; name?: string }[];
  relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
}

/** A UUID-shaped string derived from a digest (RFC 4122 version 5 layout), so namespaces are stable. */
export function digestUuid(hex: string, salt: string): string {
  const h = createHash("sha1").update(`${salt}:${hex}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function idMaker() {
  const used = new Set<string>();
  return (prefix: string, key: string) => {
    const base = `SPDXRef-${prefix}-${key.replace(/^\/+/, "").replace(/[^A-Za-z0-9.-]+/g, "-") || "root"}`;
    let id = base;
    if (used.has(id)) id = `${base}-${createHash("sha256").update(key).digest("hex").slice(0, 8)}`;
    used.add(id);
    return id;
  };
}

const PURPOSE: Record<Part["kind"], string> = {
  hypervisor: "OPERATING-SYSTEM",
  kernel: "OPERATING-SYSTEM",
  module: "FILE",
  libc: "LIBRARY",
  init: "APPLICATION",
  program: "APPLICATION",
  library: "LIBRARY",
  file: "FILE",
  config: "FILE",
};

function supplier(p: Part): string {
  return p.supplier ? `Organization: ${p.supplier}` : NOASSERTION;
}

function fileType(p: Part): string[] {
  if (p.target !== undefined) return ["OTHER"];
  if (p.kind === "config") return ["TEXT"];
  if (["init", "program", "module", "kernel", "hypervisor"].includes(p.kind)) return ["BINARY"];
  return ["OTHER"];
}

function checksums(p: Part): SpdxChecksum[] {
  const out: SpdxChecksum[] = [];
  if (p.sha1) out.push({ algorithm: "SHA1", checksumValue: p.sha1 });
  if (p.sha256) out.push({ algorithm: "SHA256", checksumValue: p.sha256 });
  return out;
}

/** SPDX 2.3 §7.9: SHA1 over the sorted SHA1s of a package's files. */
function verificationCode(sha1s: string[]): string {
  return createHash("sha1")
    .update([...sha1s].sort().join(""))
    .digest("hex");
}

export function spdxDocument(img: ImageParts): SpdxDocument {
  const makeId = idMaker();
  const packages: SpdxPackage[] = [];
  const files: SpdxFile[] = [];
  const rels: SpdxDocument["relationships"] = [];
  const usedLicenses = new Set<string>();
  const noteLicense = (e: string) => {
    if (e === NOASSERTION || e === "NONE") return e;
    for (const l of licenseLeaves(parseLicenseExpression(e).ast)) usedLicenses.add(l);
    return e;
  };

  const imageId = makeId("Package", `image-${img.name}`);
  packages.push({
    SPDXID: imageId,
    name: img.name,
    versionInfo: `sha256:${img.digest}`,
    supplier: NOASSERTION,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: "CONTAINER",
    comment: `kiln image for platform ${img.platform}, baked by kiln ${img.kiln}`,
  });
  rels.push({
    spdxElementId: "SPDXRef-DOCUMENT",
    relationshipType: "DESCRIBES",
    relatedSpdxElement: imageId,
  });

  // Parts that are packages: everything with a purl (kernel, libc, kiln-init, programs, library packages).
  const pkgIds = new Map<string, string>();
  const fileIds = new Map<string, string>();
  const isPackage = (p: Part) => p.purl !== undefined;
  for (const p of img.parts) if (isPackage(p)) pkgIds.set(p.id, makeId("Package", p.id));
  for (const p of img.parts)
    if (p.path !== undefined || p.file !== undefined) fileIds.set(p.id, makeId("File", p.path ?? p.file!));

  const filesOf = new Map<string, Part[]>();
  for (const p of img.parts) {
    if (!fileIds.has(p.id)) continue;
    // A file belongs to its own package (programs, kiln-init, the kernel image) or to its container.
    const owner = isPackage(p) ? p.id : p.containedIn;
    if (owner && pkgIds.has(owner)) filesOf.set(owner, [...(filesOf.get(owner) ?? []), p]);
  }

  for (const p of img.parts) {
    const fid = fileIds.get(p.id);
    if (fid) {
      const lic = noteLicense(p.license);
      files.push({
        SPDXID: fid,
        fileName: p.path ? `.${p.path}` : `./${p.file}`,
        fileTypes: fileType(p),
        checksums: checksums(p),
        licenseConcluded: lic,
        licenseInfoInFiles: [NOASSERTION],
        copyrightText: NOASSERTION,
        ...(p.target !== undefined
          ? { comment: `symbolic link to ${p.target}` }
          : p.note
            ? { comment: p.note }
            : {}),
      });
    }
    const pid = pkgIds.get(p.id);
    if (pid) {
      const own = filesOf.get(p.id) ?? [];
      const lic = noteLicense(p.license);
      const o = p.debian;
      packages.push({
        SPDXID: pid,
        name: p.name,
        ...(p.version ? { versionInfo: p.version } : {}),
        supplier: supplier(p),
        downloadLocation: NOASSERTION,
        filesAnalyzed: own.length > 0,
        ...(own.length
          ? {
              packageVerificationCode: {
                packageVerificationCodeValue: verificationCode(own.map((f) => f.sha1!)),
              },
            }
          : {}),
        ...(p.path || p.file ? { checksums: checksums(p) } : {}),
        ...(o
          ? {
              sourceInfo: `Debian ${o.release} binary package ${o.package} ${o.version} (${o.arch}), built from source package ${o.source} ${o.sourceVersion}`,
            }
          : {}),
        licenseConcluded: lic,
        licenseDeclared: lic,
        copyrightText: NOASSERTION,
        externalRefs: [
          { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: p.purl! },
        ],
        primaryPackagePurpose: PURPOSE[p.kind],
        ...(p.note ? { comment: p.note } : {}),
      });
    }
  }

  // Loose files (kiln's config, added files) belong to the image package itself.
  const loose = img.parts.filter(
    (p) => fileIds.has(p.id) && !pkgIds.has(p.id) && !(p.containedIn && pkgIds.has(p.containedIn)),
  );
  if (loose.length) {
    packages[0]!.filesAnalyzed = true;
    packages[0]!.packageVerificationCode = {
      packageVerificationCodeValue: verificationCode(loose.map((f) => f.sha1!)),
    };
  }

  for (const p of img.parts) {
    const pid = pkgIds.get(p.id);
    const fid = fileIds.get(p.id);
    const container = p.containedIn ? pkgIds.get(p.containedIn) : undefined;
    if (pid)
      rels.push({
        spdxElementId: container ?? imageId,
        relationshipType: "CONTAINS",
        relatedSpdxElement: pid,
      });
    if (fid) {
      const owner = pid ?? container ?? imageId;
      rels.push({ spdxElementId: owner, relationshipType: "CONTAINS", relatedSpdxElement: fid });
    }
    for (const l of p.links ?? []) {
      const target = pkgIds.get(l);
      if (pid && target)
        rels.push({ spdxElementId: pid, relationshipType: "STATIC_LINK", relatedSpdxElement: target });
    }
  }

  const refs = [...usedLicenses]
    .flatMap((l) => l.split(" WITH ")[0]!.replace(/\+$/, ""))
    .filter((l) => l.startsWith("LicenseRef-"))
    .sort();
  const extracted = [...new Set(refs)].map((licenseId) => ({
    licenseId,
    extractedText:
      img.licenseTexts[licenseId] ?? "The text of this licence was not available when the SBOM was made.",
    name: licenseId.slice("LicenseRef-".length),
  }));

  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `kiln image ${img.name}`,
    documentNamespace: `https://spdx.org/spdxdocs/kiln-${img.name.replace(/[^A-Za-z0-9.-]+/g, "-")}-${digestUuid(img.digest, "spdx")}`,
    creationInfo: { created: img.created, creators: [`Tool: kiln-${KILN_VERSION}`] },
    packages,
    files,
    ...(extracted.length ? { hasExtractedLicensingInfos: extracted } : {}),
    relationships: rels,
  };
}

export function spdxJson(img: ImageParts): string {
  return `${JSON.stringify(spdxDocument(img), null, 2)}\n`;
}
