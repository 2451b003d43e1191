/**
 * The `deb` launchable: a Debian binary package `kiln-image-NAME` that installs the image and how to
 * launch it:
 *   /usr/lib/kiln/images/NAME/{kernel,initrd,manifest.json}  the image as baked
 *   /usr/lib/kiln/images/NAME/run                           QEMU (microvm, direct kernel boot), exits with
 *                                                           the program's status
 *   /usr/lib/kiln/images/NAME/xen.cfg                       xl(1) configuration for a Xen PVH domU
 *   /lib/systemd/system/kiln-NAME.service                   runs `run`
 *   /usr/share/doc/kiln-image-NAME/{copyright,sbom.spdx.json} DEP-5 licences of the parts, SPDX 2.3 SBOM
 * The control file names the Debian source packages built in (`Built-Using`: the kernel's `linux`, `musl`
 * linked into every program). The .deb is written by core/debWriter.ts: same image, same bytes.
 */
import { readFile } from "node:fs/promises";
import {
  buildDebArchive,
  checkDebName,
  checkDebVersion,
  deb822Block,
  debMaintainer,
  debMtime,
  nativeChangelog,
  wrapText,
} from "../core/debWriter.js";
import { q, usageError } from "../core/errors.js";
import { silentProgress } from "../core/progress.js";
import { KILN_VERSION } from "../core/version.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { writeLaunchable } from "./launchableOutput.js";

/** Extra options the deb format reads (version and maintainer also come from KILN_DEB_VERSION, DEBFULLNAME/DEBEMAIL). */
export interface DebOptions extends FormatOptions {
  version?: string;
  maintainer?: string;
}

export const DEFAULT_VERSION = "0+kiln1";

export interface DebPaths {
  pkg: string;
  dir: string;
  unit: string;
  doc: string;
}

export function debPaths(name: string): DebPaths {
  return {
    pkg: `kiln-image-${name}`,
    dir: `usr/lib/kiln/images/${name}`,
    unit: `lib/systemd/system/kiln-${name}.service`,
    doc: `usr/share/doc/kiln-image-${name}`,
  };
}

/** Single-quote for sh: the value comes back exactly. */
function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The image's kernel command line with the console a backend needs in place of the image's own. */
function withConsole(cmdline: string, console: string): string {
  const words = cmdline.split(/\s+/).filter((w) => w && !w.startsWith("console="));
  return [...words, `console=${console}`].join(" ");
}

/**
 * The QEMU run script: the same machine `kiln launch qemu` uses (microvm, isa-debug-exit, serial on
 * stdio), KVM when /dev/kvm opens, else TCG with the timer hints the stock kernel needs there. The status
 * is the program's: the last "kiln: exit N" line of the console (kept in a log file by QEMU's chardev),
 * else the isa-debug-exit status ((N << 1) | 1), else QEMU's own.
 */
export function runScript(image: Image, name: string, extraCmdline?: string): string {
  const m = image.manifest;
  const cmdline = withConsole([m.cmdline, extraCmdline ?? ""].join(" "), "ttyS0");
  const machine = m.acpi === false ? "microvm,acpi=off" : "microvm";
  return `#!/bin/sh
# Boot the kiln image ${name} with QEMU (written by kiln ${KILN_VERSION}).
# Environment: KILN_ACCEL=kvm|tcg (default: kvm when /dev/kvm opens), KILN_MEMORY=MiB (default 128),
# KILN_QEMU (default qemu-system-x86_64). Arguments are passed on to QEMU.
set -eu
here=$(dirname "$(readlink -f "$0")")
accel=\${KILN_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then accel=kvm; else accel=tcg; fi
fi
append=${shq(cmdline)}
if [ "$accel" = tcg ]; then
  khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo 2>/dev/null || true)
  append="$append tsc_early_khz=\${khz:-2000000} no_timer_check tsc=reliable"
fi
log=$(mktemp "\${TMPDIR:-/tmp}/kiln-${name}.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
"\${KILN_QEMU:-qemu-system-x86_64}" -name kiln-${name} -M ${machine} -accel "$accel" -m "\${KILN_MEMORY:-128}" \\
  -nodefaults -no-user-config -display none -no-reboot \\
  -chardev "stdio,id=con0,signal=on,logfile=$(printf '%s' "$log" | sed 's/,/,,/g')" -serial chardev:con0 \\
  -device isa-debug-exit,iobase=0xf4,iosize=0x04 \\
  -kernel "$here/${m.kernel.file}" -initrd "$here/${m.initrd.file}" -append "$append" "$@" || status=$?
line=$(tr -d '\\r' < "$log" | grep -a -o 'kiln: exit [0-9]*' | tail -n 1 || true)
if [ -n "$line" ]; then exit "\${line#kiln: exit }"; fi
if [ "$status" -gt 1 ] && [ $((status % 2)) -eq 1 ]; then exit $((status >> 1)); fi
exit "$status"
`;
}

/** xl.cfg(5) for a PVH guest with direct kernel boot, console on hvc0 (as `kiln launch xen` writes it). */
export function xenConfig(image: Image, name: string, dir: string, extraCmdline?: string): string {
  const m = image.manifest;
  const str = (s: string) => `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
  const cmdline = withConsole([m.cmdline, extraCmdline ?? ""].join(" "), "hvc0");
  return [
    `# kiln image ${name} as a Xen PVH guest: xl create -c /${dir}/xen.cfg`,
    `name = ${str(`kiln-${name}`)}`,
    `type = "pvh"`,
    `kernel = ${str(`/${dir}/${m.kernel.file}`)}`,
    `ramdisk = ${str(`/${dir}/${m.initrd.file}`)}`,
    `cmdline = ${str(cmdline)}`,
    "memory = 128",
    "vcpus = 1",
    `on_poweroff = "destroy"`,
    `on_reboot = "destroy"`,
    `on_crash = "destroy"`,
    "",
  ].join("\n");
}

export function systemdUnit(name: string, p: DebPaths): string {
  return `[Unit]
Description=kiln image ${name} (QEMU)
Documentation=file:/${p.doc}/copyright
After=network.target

[Service]
Type=simple
ExecStart=/${p.dir}/run
Restart=no

[Install]
WantedBy=multi-user.target
`;
}

interface Origin {
  source: string;
  sourceVersion: string;
}

interface PartInfo {
  kind: string;
  name: string;
  version?: string;
  path?: string;
  license: string;
  debian?: Origin & { package: string };
  note?: string;
}

interface Compliance {
  parts: PartInfo[];
  copyrights: Record<string, string>;
  licenseTexts: Record<string, string>;
  sbom: string;
}

/** The image's parts with their licences and Debian origins (src/compliance), and its SPDX SBOM. */
async function compliance(image: Image, env: NodeJS.ProcessEnv | undefined): Promise<Compliance> {
  const { collectParts } = await import("../compliance/parts.js");
  const { spdxJson } = await import("../compliance/spdx.js");
  const img = await collectParts(image, env ? { env } : {});
  return {
    parts: img.parts as PartInfo[],
    copyrights: img.copyrights,
    licenseTexts: img.licenseTexts,
    sbom: spdxJson(img),
  };
}

/** Built-Using: every Debian source package whose code is in the image (the kernel, musl, libraries). */
export function builtUsing(parts: readonly PartInfo[]): string {
  const seen = new Map<string, string>();
  for (const p of parts)
    if (p.debian) seen.set(`${p.debian.source} (= ${p.debian.sourceVersion})`, p.debian.source);
  return [...seen.keys()].sort().join(", ");
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

/** A DEP-5 (copyright-format 1.0) file: one paragraph per installed file, licences from the parts. */
export async function copyrightFile(name: string, p: DebPaths, c: Compliance): Promise<string> {
  const kernel = c.parts.find((x) => x.kind === "kernel");
  const inInitrd = c.parts.filter((x) => x.kind !== "kernel" && x.kind !== "module" && x.license !== "NONE");
  const modules = c.parts.filter((x) => x.kind === "module");
  const kernelLicense = kernel?.license ?? "GPL-2.0-only";
  const initrdIds = [
    ...new Set([...inInitrd.map((x) => x.license), ...(modules.length ? [kernelLicense] : [])]),
  ];
  // Conjunctions flatten into one list; an expression with OR keeps its parentheses.
  const initrdTerms = [
    ...new Set(initrdIds.flatMap((l) => (/\bOR\b/.test(l) ? [`(${l})`] : l.split(/\s+AND\s+/)))),
  ];
  const initrdLicense = initrdTerms.length ? initrdTerms.join(" AND ") : "NOASSERTION";
  const describe = (x: PartInfo) =>
    `${x.path ?? x.name}${x.version ? ` ${x.version}` : ""}: ${x.license}${x.debian ? ` (Debian package ${x.debian.package}, source ${x.debian.source} ${x.debian.sourceVersion})` : ""}`;
  const copyrightOf = async (x: PartInfo) =>
    (x.debian ? await debCopyright(c.copyrights[x.debian.package]) : undefined) ??
    (x.kind === "kernel"
      ? "Linus Torvalds and the Linux kernel authors"
      : x.kind === "init"
        ? "The kiln authors"
        : "NOASSERTION");
  const lines = (text: string) =>
    text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  const initrdCopyrights = [...new Set((await Promise.all(inInitrd.map(copyrightOf))).flatMap(lines))];
  const paras: string[] = [
    [
      "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
      `Upstream-Name: kiln image ${name}`,
      `Comment: Made by kiln ${KILN_VERSION} from the image's parts; sbom.spdx.json beside this file`,
      " lists every file of the image with its digest and licence. NOASSERTION: kiln does not know.",
    ].join("\n"),
    [
      "Files: *",
      "Copyright: The kiln authors",
      "License: Apache-2.0",
      "Comment: The launch configuration kiln generated (run script, systemd unit, xl configuration,",
      " manifest.json).",
    ].join("\n"),
    [
      `Files: ${p.dir}/kernel`,
      `Copyright: ${lines(kernel ? await copyrightOf(kernel) : "Linus Torvalds and the Linux kernel authors").join("\n ")}`,
      `License: ${dep5License(kernelLicense)}`,
      `Comment: ${kernel ? describe(kernel) : "Linux"}`,
    ].join("\n"),
    [
      `Files: ${p.dir}/initrd`,
      `Copyright: ${initrdCopyrights.join("\n ")}`,
      `License: ${dep5License(initrdLicense)}`,
      `Comment: The initrd holds:${deb822Block(
        [
          ...inInitrd.map(describe),
          ...(modules.length ? [`${modules.length} kernel modules: ${kernelLicense}`] : []),
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

export interface DebBuild {
  deb: Buffer;
  control: string;
  paths: DebPaths;
  files: string[];
}

/** Build the .deb in memory. */
export async function buildDeb(image: Image, opts: DebOptions = {}): Promise<DebBuild> {
  const env = opts.env ?? process.env;
  const m = image.manifest;
  const name = opts.name ?? m.name;
  checkDebName(name, "image name", "Give a name with --name (e.g. --name hello).");
  const version = opts.version ?? env.KILN_DEB_VERSION ?? DEFAULT_VERSION;
  checkDebVersion(version);
  const maintainer = debMaintainer(env, opts.maintainer);
  const mtime = debMtime(env);
  const p = debPaths(name);

  const [kernel, initrd, manifestJson, comp] = await Promise.all([
    readFile(image.kernel),
    readFile(image.initrd),
    readFile(`${image.dir}/manifest.json`),
    compliance(image, env),
  ]);
  const files: { path: string; data: Uint8Array; mode?: number }[] = [
    { path: `${p.dir}/${m.kernel.file}`, data: kernel },
    { path: `${p.dir}/${m.initrd.file}`, data: initrd },
    { path: `${p.dir}/manifest.json`, data: manifestJson },
    { path: `${p.dir}/run`, data: Buffer.from(runScript(image, name, opts.cmdline)), mode: 0o755 },
    { path: `${p.dir}/xen.cfg`, data: Buffer.from(xenConfig(image, name, p.dir, opts.cmdline)) },
    { path: p.unit, data: Buffer.from(systemdUnit(name, p)) },
    { path: `${p.doc}/copyright`, data: Buffer.from(await copyrightFile(name, p, comp)) },
    { path: `${p.doc}/sbom.spdx.json`, data: Buffer.from(comp.sbom) },
    {
      path: `${p.doc}/changelog.gz`,
      data: nativeChangelog(
        p.pkg,
        version,
        `Image ${name} packaged by kiln ${KILN_VERSION}.`,
        maintainer,
        mtime,
      ),
    },
  ];
  const built = builtUsing(comp.parts);
  const { deb, control } = await buildDebArchive({
    fields: [
      ["Package", p.pkg],
      ["Version", version],
      ["Architecture", "amd64"],
      ["Maintainer", maintainer],
      ["Depends", "qemu-system-x86"],
      ["Suggests", "xen-utils"],
      ...(built ? [["Built-Using", built] as [string, string]] : []),
      ["Section", "misc"],
      ["Priority", "optional"],
      [
        "Description",
        `kiln image ${name}: a single-application VM (kernel and initrd)\n${deb822Block(
          wrapText(
            `The image ${name}, baked by kiln ${m.kiln} for the ${m.platform} platform (Linux ${m.kernel.release}), with its launch configuration: a QEMU run script (/${p.dir}/run), a systemd unit (kiln-${name}.service) and an xl configuration for a Xen PVH guest (/${p.dir}/xen.cfg).`,
            78,
          ),
        )}`,
      ],
    ],
    payload: files,
    mtime,
  });
  return { deb, control, paths: p, files: files.map((f) => `/${f.path}`) };
}

export const format: LaunchableFormat = {
  name: "deb",
  description: "Debian package installing the image, a QEMU run script, a systemd unit and a Xen PVH config",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    // The package runs its image as a guest (QEMU's direct kernel boot, an xl domain); a hypervisor host is
    // no guest: it is installed on a machine, from a disk or an ISO.
    const m = image.manifest;
    if (m.hypervisor) {
      throw usageError(
        "KILN_EIMAGE_UNSUPPORTED",
        `Cannot make "deb" from image ${q(m.name)}: it is a ${m.hypervisor.name} host, which boots a machine, while the package runs its image as a guest (QEMU's direct kernel boot, a Xen domain)`,
        `Make a disk or an ISO for the machine (kiln image raw-bios ${image.dir} -o host.img, or iso), or kiln push ${image.dir} REF to ship the image itself.`,
      );
    }
    const progress = opts.progress ?? silentProgress;
    progress.step(`writing Debian package ${out}`);
    const r = await writeLaunchable(out, opts, async (file) => {
      const b = await buildDeb(image, opts as DebOptions);
      const { writeFile } = await import("node:fs/promises");
      await writeFile(file, b.deb);
      return { package: b.paths.pkg, files: b.files, control: b.control };
    });
    progress.done();
    return { format: "deb", ...r };
  },
};
