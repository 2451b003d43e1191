/**
 * The `deb` launchable of a Xen stub domain image (its configuration runs libxl's device model arguments,
 * `"argv_xen_dm": true`): the package Debian's Xen lacks, `kiln-xen-stubdom-qemu`, which puts the image
 * where libxl looks for a Linux stub domain when a guest names none (libxl__xenfirmwaredir_path(), which is
 * /usr/lib/xen-X.Y/boot on Debian):
 *   /usr/lib/xen-X.Y/boot/qemu-stubdom-linux-kernel   the image's kernel, as baked
 *   /usr/lib/xen-X.Y/boot/qemu-stubdom-linux-rootfs   the image's initrd, as baked
 *   /usr/share/doc/PKG/{copyright,sbom.spdx.json,sbom.cdx.json,changelog.gz}   (src/image/imageDebDocs.ts)
 *   /usr/share/lintian/overrides/PKG                   the tags that do not apply, each with its reason
 * X.Y is the Xen of the xen-utils package whose vchan-socket-proxy is in the image (libxl and the stub
 * domain's Xen libraries must be of one Xen). No run script and no unit: libxl starts the domain.
 */
import { readFile } from "node:fs/promises";
import type { Part } from "../compliance/parts.js";
import {
  buildDebArchive,
  checkDebName,
  checkDebVersion,
  type DebPayload,
  deb822Block,
  debMaintainer,
  debMtime,
  wrapText,
} from "../core/debWriter.js";
import { q, usageError } from "../core/errors.js";
import { KILN_VERSION } from "../core/version.js";
import type { Image, ImageManifest } from "../manifest/imageManifest.js";
import type { DebBuild, DebOptions } from "./deb.js";
import type { FormatOptions } from "./format.js";
import { builtUsing, docPayload, imageCompliance } from "./imageDebDocs.js";

export const STUBDOM_PACKAGE = "kiln-xen-stubdom-qemu";
/** The names libxl 4.17 gives the files of a Linux stub domain (libxl_dm.c, libxl__domain_build_info_setdefault). */
export const STUBDOM_KERNEL = "qemu-stubdom-linux-kernel";
export const STUBDOM_ROOTFS = "qemu-stubdom-linux-rootfs";
const QMP_PROXY = "vchan-socket-proxy";

/** An image whose configuration takes libxl's device model arguments runs only as a stub domain. */
export function isStubDomain(m: ImageManifest): boolean {
  return (m.config.rc ?? []).some((r) => r.argv_xen_dm === true);
}

/** libxl gives a stub domain the guest's `stubdomain_cmdline`: the package has no place for a line of its own. */
export function checkStubdomOptions(m: ImageManifest, opts: FormatOptions): void {
  if (opts.cmdline) {
    throw usageError(
      "KILN_EOPTION_CONFLICT",
      `Cannot give the package of Xen stub domain ${q(m.name)} a kernel command line (${q(opts.cmdline)}): libxl starts the stub domain with the guest's stubdomain_cmdline, not with a line from the package`,
      "Drop --cmdline and --net; set stubdomain_cmdline in the guest's xl configuration if the stub domain needs one.",
    );
  }
}

export interface StubdomXen {
  /** The Debian package of the vchan-socket-proxy inside (xen-utils-4.17). */
  utils: string;
  /** Its version. */
  version: string;
  /** Xen's major.minor: libxl's directory /usr/lib/xen-X.Y. */
  xen: string;
}

/** Which Xen the stub domain is for: that of the xen-utils package its QMP proxy comes from. */
export function stubdomXen(m: ImageManifest, parts: readonly Part[]): StubdomXen {
  const proxy = parts.find((p) => p.path?.endsWith(`/${QMP_PROXY}`) && p.kind === "program");
  const deb = proxy?.debian;
  const xen = deb && /^xen-utils-/.test(deb.package) ? /^(?:\d+:)?(\d+\.\d+)[.+~-]/.exec(deb.version) : null;
  if (!deb || !xen) {
    throw usageError(
      "KILN_ESTUBDOM_XEN_UNKNOWN",
      `Cannot tell which Xen stub domain ${q(m.name)} is for: ${
        deb
          ? `its ${QMP_PROXY} comes from ${q(`${deb.package} ${deb.version}`)}, not from a xen-utils-X.Y package of Debian's`
          : `it carries no ${QMP_PROXY} from a Debian xen-utils package`
      }, and libxl of that Xen looks for the files in /usr/lib/xen-X.Y/boot`,
      `Bake it for the xen-stubdom platform (kiln bake xen-stubdom OUT deb:qemu-system-xen), which adds Xen's ${QMP_PROXY} from xen-utils.`,
    );
  }
  return { utils: deb.package, version: deb.version, xen: xen[1]! };
}

/**
 * The default version: the device model's Debian version (QEMU is what the package is), then the kernel's
 * (stable's kernel updates are the stub domain's other security updates), then the image's digest, so
 * that two different images never share a version. The digest does not order: when only a library
 * changed, give the version (KILN_DEB_VERSION), as Debian's binNMUs do.
 */
export function stubdomVersion(dm: string | undefined, kernel: string | undefined, digest: string): string {
  // "-" and ":" cannot repeat inside a version; "+" keeps the order and adds no dot to the revision (lintian
  // wants at most two there: debian-revision-not-well-formed).
  const plain = (v: string) => v.replace(/[:-]/g, "+");
  return `${dm ?? "0"}${kernel ? `+linux${plain(kernel)}` : ""}+g${digest.slice(0, 10)}`;
}

/**
 * Tags lintian gives this package that do not apply, each with its reason (lintian shows the comment right
 * above an override as its justification).
 */
export function lintianOverrides(pkg: string): string {
  return [
    "# The copyright file carries the copyright files of the Debian packages inside the stub domain word",
    "# for word (one that is not machine-readable is the whole text of its licence): their spelling and",
    "# their references to /usr/share/common-licenses are theirs, and are not to be changed here.",
    `${pkg}: spelling-error-in-copyright *`,
    `${pkg}: copyright-refers-to-symlink-license *`,
    "",
  ].join("\n");
}

/** Build the stub domain's .deb in memory. */
export async function buildStubdomDeb(image: Image, opts: DebOptions = {}): Promise<DebBuild> {
  const env = opts.env ?? process.env;
  const m = image.manifest;
  const pkg = opts.name ?? STUBDOM_PACKAGE;
  checkDebName(
    pkg,
    "the stub domain's package name",
    `Give a name with --name (default ${STUBDOM_PACKAGE}).`,
  );
  const comp = await imageCompliance(image, env);
  const xen = stubdomXen(m, comp.parts);
  const dmPath = (m.config.rc ?? []).find((r) => r.argv_xen_dm)?.bin;
  const dm = comp.parts.find((p) => p.kind === "program" && p.path === dmPath);
  const version =
    opts.version ??
    env.KILN_DEB_VERSION ??
    stubdomVersion(dm?.debian?.version, m.kernel.version ?? m.kernel.release, comp.digest);
  checkDebVersion(version);
  const maintainer = debMaintainer(env, opts.maintainer);
  const mtime = debMtime(env);
  const boot = `usr/lib/xen-${xen.xen}/boot`;
  const [kernel, initrd] = await Promise.all([readFile(image.kernel), readFile(image.initrd)]);
  const dmName = dm?.debian ? `${dm.debian.package} ${dm.debian.version}` : (dmPath ?? "the device model");
  const files: DebPayload[] = [
    { path: `${boot}/${STUBDOM_KERNEL}`, data: kernel },
    { path: `${boot}/${STUBDOM_ROOTFS}`, data: initrd },
    ...(await docPayload(
      comp,
      {
        title: `Xen stub domain ${m.name} (kiln image)`,
        kernel: `${boot}/${STUBDOM_KERNEL}`,
        initrd: `${boot}/${STUBDOM_ROOTFS}`,
        generated: "What kiln wrote: this file, the SBOMs, the changelog and lintian's overrides.",
      },
      {
        pkg,
        version,
        entry: `Xen stub domain ${m.name} (${dmName}, Linux ${m.kernel.release}) packaged by kiln ${KILN_VERSION}.`,
        maintainer,
        mtime,
      },
    )),
    { path: `usr/share/lintian/overrides/${pkg}`, data: Buffer.from(lintianOverrides(pkg)) },
  ];
  const built = builtUsing(comp.parts);
  const { deb, control } = await buildDebArchive({
    fields: [
      ["Package", pkg],
      ["Version", version],
      ["Architecture", "amd64"],
      ["Maintainer", maintainer],
      ["Recommends", xen.utils],
      ["Enhances", xen.utils],
      ...(built ? [["Built-Using", built] as [string, string]] : []),
      ["Section", "otherosfs"],
      ["Priority", "optional"],
      [
        "Description",
        `Xen device model (QEMU) in a Linux stub domain, for HVM guests\n${deb822Block(
          wrapText(
            `The device model of Xen HVM guests, ${dmName}, in a stub domain of its own for each guest instead of a process in dom0. libxl of Xen ${xen.xen} starts it for a guest whose xl configuration says device_model_stubdomain_override = 1, loading /${boot}/${STUBDOM_KERNEL} and /${boot}/${STUBDOM_ROOTFS}, which this package installs.`,
            78,
          ),
        )}\n .\n${deb822Block(
          wrapText(
            `Baked by kiln ${m.kiln} for the ${m.platform} platform from Debian's packages: Linux ${m.kernel.release}, the device model with its libraries, and Xen's ${QMP_PROXY} (QEMU's monitor for libxl in dom0), started by kiln-init; there is no shell.`,
            78,
          ),
        )}`,
      ],
    ],
    payload: files,
    mtime,
  });
  return { deb, control, pkg, files: files.map((f) => `/${f.path}`) };
}
