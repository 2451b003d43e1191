/**
 * The `deb` launchable: a Debian binary package `kiln-image-NAME` that installs the image and how to
 * launch it:
 *   /usr/lib/kiln/images/NAME/{kernel,initrd,manifest.json}  the image as baked
 *   /usr/lib/kiln/images/NAME/run                           QEMU (microvm, direct kernel boot), exits with
 *                                                           the program's status
 *   /usr/lib/kiln/images/NAME/xen.cfg                       xl(1) configuration for a Xen PVH domU
 *   /lib/systemd/system/kiln-NAME.service                   runs `run`
 *   /usr/share/doc/kiln-image-NAME/{copyright,sbom.spdx.json,sbom.cdx.json} DEP-5 licences of the parts,
 *                                                           the SBOMs (src/image/imageDebDocs.ts)
 * The control file names the Debian source packages built in (`Built-Using`: the kernel's `linux`, `musl`
 * linked into every program). The .deb is written by core/debWriter.ts: same image, same bytes.
 * An image that is a Xen stub domain gets a package of its own layout instead (src/image/stubdomDeb.ts).
 */
import { readFile } from "node:fs/promises";
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
import { silentProgress } from "../core/progress.js";
import { KILN_VERSION } from "../core/version.js";
import { microvmMachine } from "../launch/drivers/qemu.js";
import type { Image } from "../manifest/imageManifest.js";
import { shQuote } from "../toolchain/quote.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { builtUsing, docPayload, imageCompliance } from "./imageDebDocs.js";
import { writeLaunchable } from "./launchableOutput.js";
import { buildStubdomDeb, checkStubdomOptions, isStubDomain } from "./stubdomDeb.js";

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
  // kiln launch's machine for each accelerator, which the script picks only when it runs.
  const machine = {
    kvm: microvmMachine(m.acpi !== false, "kvm"),
    tcg: microvmMachine(m.acpi !== false, "tcg"),
  };
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
append=${shQuote(cmdline)}
machine=${machine.kvm}
if [ "$accel" = tcg ]; then
  machine=${machine.tcg}
  khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo 2>/dev/null || true)
  append="$append tsc_early_khz=\${khz:-2000000} no_timer_check tsc=reliable"
fi
log=$(mktemp "\${TMPDIR:-/tmp}/kiln-${name}.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
"\${KILN_QEMU:-qemu-system-x86_64}" -name kiln-${name} -M "$machine" -accel "$accel" -m "\${KILN_MEMORY:-128}" \\
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

export interface DebBuild {
  deb: Buffer;
  control: string;
  /** The package's name. */
  pkg: string;
  /** What it installs, as absolute paths. */
  files: string[];
}

/** Build the .deb of a guest image in memory. */
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
    imageCompliance(image, env),
  ]);
  const files: DebPayload[] = [
    { path: `${p.dir}/${m.kernel.file}`, data: kernel },
    { path: `${p.dir}/${m.initrd.file}`, data: initrd },
    { path: `${p.dir}/manifest.json`, data: manifestJson },
    { path: `${p.dir}/run`, data: Buffer.from(runScript(image, name, opts.cmdline)), mode: 0o755 },
    { path: `${p.dir}/xen.cfg`, data: Buffer.from(xenConfig(image, name, p.dir, opts.cmdline)) },
    { path: p.unit, data: Buffer.from(systemdUnit(name, p)) },
    ...(await docPayload(
      comp,
      {
        title: `kiln image ${name}`,
        kernel: `${p.dir}/${m.kernel.file}`,
        initrd: `${p.dir}/${m.initrd.file}`,
        generated:
          "The launch configuration kiln generated (run script, systemd unit, xl configuration,\n manifest.json) and the SBOMs.",
      },
      { pkg: p.pkg, version, entry: `Image ${name} packaged by kiln ${KILN_VERSION}.`, maintainer, mtime },
    )),
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
  return { deb, control, pkg: p.pkg, files: files.map((f) => `/${f.path}`) };
}

export const format: LaunchableFormat = {
  name: "deb",
  description:
    "Debian package installing the image, a QEMU run script, a systemd unit and a Xen PVH config; for a Xen stub domain, the files libxl loads",
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
    // A stub domain runs only as the device model libxl starts for an HVM guest: its package is the two
    // files libxl loads, at the paths it looks in (src/image/stubdomDeb.ts), and no way to launch it.
    const stub = isStubDomain(m);
    if (stub) checkStubdomOptions(m, opts);
    const progress = opts.progress ?? silentProgress;
    progress.step(`writing Debian package ${out}${stub ? " (a Xen stub domain)" : ""}`);
    const r = await writeLaunchable(out, opts, async (file) => {
      const b = stub
        ? await buildStubdomDeb(image, opts as DebOptions)
        : await buildDeb(image, opts as DebOptions);
      const { writeFile } = await import("node:fs/promises");
      await writeFile(file, b.deb);
      return { package: b.pkg, files: b.files, control: b.control };
    });
    progress.done();
    return { format: "deb", ...r };
  },
};
