/**
 * What every Debian package of an image carries beside the image, whatever the layout (src/image/deb.ts for
 * a guest, src/image/stubdomDeb.ts for a Xen stub domain): /usr/share/doc/PKG/ with a DEP-5 `copyright`
 * covering every part of the image, the SBOMs exactly as `kiln sbom` makes them (`sbom.spdx.json`,
 * `sbom.cdx.json`) and the changelog policy asks for; and the `Built-Using` field naming the Debian source
 * packages whose code is in it.
 */
import type { Part } from "../compliance/parts.js";
import { changelogName, type DebPayload, deb822Block, oneEntryChangelog } from "../core/debWriter.js";
import { KILN_VERSION } from "../core/version.js";
import type { Image } from "../manifest/imageManifest.js";
import { SBOM_TITLES } from "./oci.js";

export interface ImageCompliance {
  parts: Part[];
  copyrights: Record<string, string>;
  licenseTexts: Record<string, string>;
  /** sha256 of manifest.json: names the image. */
  digest: string;
  spdx: string;
  cdx: string;
}

/** The image's parts with their licences and Debian origins (src/compliance), and both SBOMs. */
export async function imageCompliance(
  image: Image,
  env: NodeJS.ProcessEnv | undefined,
): Promise<ImageCompliance> {
  const { collectParts } = await import("../compliance/parts.js");
  const { spdxJson } = await import("../compliance/spdx.js");
  const { cyclonedxJson } = await import("../compliance/cyclonedx.js");
  const img = await collectParts(image, env ? { env } : {});
  return {
    parts: img.parts,
    copyrights: img.copyrights,
    licenseTexts: img.licenseTexts,
    digest: img.digest,
    spdx: spdxJson(img),
    cdx: cyclonedxJson(img),
  };
}

/**
 * Built-Using: every Debian source package whose code is in the image (the kernel, musl, programs,
 * libraries). Policy 7.8 asks for it where a licence or the DFSG needs the sources kept: the package ships
 * those packages' binaries as they are, so every one of them qualifies, as for debian-installer's images.
 */
export function builtUsing(parts: readonly Part[]): string {
  const seen = new Set<string>();
  for (const p of parts) if (p.debian) seen.add(`${p.debian.source} (= ${p.debian.sourceVersion})`);
  return [...seen].sort().join(", ");
}

const COMMON_LICENSES: Record<string, string> = {
  "Apache-2.0": "Apache-2.0",
  "GPL-2.0-only": "GPL-2",
  "GPL-2.0-or-later": "GPL-2",
  "GPL-3.0-only": "GPL-3",
  "GPL-3.0-or-later": "GPL-3",
  "LGPL-2.1-only": "LGPL-2.1",
  "LGPL-2.1-or-later": "LGPL-2.1",
  "MPL-2.0": "MPL-2.0",
};

/** SPDX expression → DEP-5 License field (same identifiers, DEP-5's lowercase and/or). */
function dep5License(spdx: string): string {
  return spdx.replace(/\bAND\b/g, "and").replace(/\bOR\b/g, "or");
}

function licenseIds(spdx: string): string[] {
  return spdx
    .replace(/[()]/g, " ")
    .split(/\s+/)
    .filter((w) => w && !/^(AND|OR|WITH)$/.test(w));
}

/** The copyright statement of a Debian package's main (`Files: *`) paragraph, when its file says. */
async function debCopyright(text: string | undefined): Promise<string | undefined> {
  if (!text) return undefined;
  const { parseDep5 } = await import("../compliance/dep5.js");
  try {
    const d = parseDep5(text);
    return d.files.find((f) => f.files.includes("*"))?.copyright || undefined;
  } catch {
    return undefined;
  }
}

/** Where the package puts the image, and what else it holds that kiln wrote. */
export interface CopyrightLayout {
  /** Upstream-Name. */
  title: string;
  /** Installed paths of the image's kernel and initrd (relative to /). */
  kernel: string;
  initrd: string;
  /** What kiln generated itself, which `Files: *` covers. */
  generated: string;
}

const lines = (text: string) =>
  text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

/**
 * A DEP-5 (copyright-format 1.0) file: a paragraph per installed file, and for the initrd every part it
 * holds, each with its licence, its Debian package and the files of that package inside; then a stand-alone
 * paragraph per licence (common-licenses, else its text).
 */
export async function copyrightFile(c: ImageCompliance, layout: CopyrightLayout): Promise<string> {
  const kernel = c.parts.find((x) => x.kind === "kernel");
  const modules = c.parts.filter((x) => x.kind === "module");
  const inInitrd = c.parts.filter(
    (x) => x.kind !== "kernel" && x.kind !== "module" && x.kind !== "hypervisor" && x.license !== "NONE",
  );
  const kernelLicense = kernel?.license ?? "GPL-2.0-only";
  const initrdIds = [
    ...new Set([...inInitrd.map((x) => x.license), ...(modules.length ? [kernelLicense] : [])]),
  ];
  // Conjunctions flatten into one list; an expression with OR keeps its parentheses.
  const initrdTerms = [
    ...new Set(initrdIds.flatMap((l) => (/\bOR\b/.test(l) ? [`(${l})`] : l.split(/\s+AND\s+/)))),
  ];
  const initrdLicense = initrdTerms.length ? initrdTerms.join(" AND ") : "NOASSERTION";
  const copyrightOf = async (x: Part) => {
    if (x.debian) {
      const stated = await debCopyright(c.copyrights[x.debian.package]);
      if (stated) return stated;
      // Not machine-readable: compliance kept the whole file as the text of LicenseRef-PKG-unknown.
      return c.licenseTexts[x.license]
        ? `The authors named in Debian's copyright file of ${x.debian.package} (whole, as License ${x.license})`
        : "NOASSERTION";
    }
    if (x.kind === "kernel") return "Linus Torvalds and the Linux kernel authors";
    if (x.kind === "init") return "The kiln authors";
    return "NOASSERTION";
  };
  // Files of a Debian package are listed under the package; every other part on a line of its own.
  const top = inInitrd.filter((x) => !x.containedIn || !inInitrd.some((y) => y.id === x.containedIn));
  const describe = (x: Part) => {
    const origin = x.debian
      ? `; Debian package ${x.debian.package}, source ${x.debian.source} ${x.debian.sourceVersion}`
      : "";
    const files = inInitrd
      .filter((y) => y.containedIn === x.id && y.path)
      .map((y) => `  ${y.path}${y.target ? ` -> ${y.target}` : ""}`);
    const linkedInto = c.parts.filter((y) => y.links?.includes(x.id) && y.path).map((y) => y.path);
    const where = x.path
      ? ` (${x.path})`
      : linkedInto.length
        ? ` (linked into ${linkedInto.join(", ")})`
        : "";
    return [`${x.name}${x.version ? ` ${x.version}` : ""}${where}: ${x.license}${origin}`, ...files];
  };
  const initrdCopyrights = [...new Set((await Promise.all(top.map(copyrightOf))).flatMap(lines))];
  const paras: string[] = [
    [
      "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
      `Upstream-Name: ${layout.title}`,
      `Comment: Made by kiln ${KILN_VERSION} from the image's parts; ${SBOM_TITLES.spdx} and`,
      ` ${SBOM_TITLES.cyclonedx} beside this file list every file of the image with its digest and`,
      " licence. NOASSERTION: kiln does not know.",
    ].join("\n"),
    ["Files: *", "Copyright: The kiln authors", "License: Apache-2.0", `Comment: ${layout.generated}`].join(
      "\n",
    ),
    [
      `Files: ${layout.kernel}`,
      `Copyright: ${lines(kernel ? await copyrightOf(kernel) : "Linus Torvalds and the Linux kernel authors").join("\n ")}`,
      `License: ${dep5License(kernelLicense)}`,
      `Comment: ${kernel ? describe(kernel)[0] : "Linux"}`,
    ].join("\n"),
    [
      `Files: ${layout.initrd}`,
      `Copyright: ${initrdCopyrights.join("\n ")}`,
      `License: ${dep5License(initrdLicense)}`,
      `Comment: The initrd holds:${deb822Block(
        [
          ...top.flatMap(describe),
          ...(modules.length
            ? [`${modules.length} kernel modules of ${kernel?.name ?? "the kernel"}: ${kernelLicense}`]
            : []),
        ].join("\n"),
      ).replace(/^ /, "\n ")}`,
    ].join("\n"),
  ];
  const ids = new Set<string>(["Apache-2.0", ...licenseIds(kernelLicense), ...licenseIds(initrdLicense)]);
  for (const id of [...ids].sort()) {
    if (id === "NOASSERTION") {
      paras.push("License: NOASSERTION\n The licence of this part is not known to kiln; ask its supplier.");
      continue;
    }
    const common = COMMON_LICENSES[id];
    if (common) {
      paras.push(
        `License: ${id}\n On Debian systems the full text is in /usr/share/common-licenses/${common}.`,
      );
    } else if (c.licenseTexts[id]) {
      paras.push(`License: ${id}\n${deb822Block(c.licenseTexts[id]!)}`);
    } else {
      paras.push(`License: ${id}\n See https://spdx.org/licenses/${id}.html`);
    }
  }
  return `${paras.join("\n\n")}\n`;
}

/** /usr/share/doc/PKG: copyright, both SBOMs and a one-entry changelog. */
export async function docPayload(
  c: ImageCompliance,
  layout: CopyrightLayout,
  changelog: { pkg: string; version: string; entry: string; maintainer: string; mtime: number },
): Promise<DebPayload[]> {
  const doc = `usr/share/doc/${changelog.pkg}`;
  return [
    { path: `${doc}/copyright`, data: Buffer.from(await copyrightFile(c, layout)) },
    { path: `${doc}/${SBOM_TITLES.spdx}`, data: Buffer.from(c.spdx) },
    { path: `${doc}/${SBOM_TITLES.cyclonedx}`, data: Buffer.from(c.cdx) },
    {
      path: `${doc}/${changelogName(changelog.version)}`,
      data: oneEntryChangelog(
        changelog.pkg,
        changelog.version,
        changelog.entry,
        changelog.maintainer,
        changelog.mtime,
      ),
    },
  ];
}
