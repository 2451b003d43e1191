// The image the compliance tests look at. Until `kiln bake` runs in CI, a stand-in written the way bake
// writes images (src/bake/cpio.ts, the manifest shape of src/manifest/imageManifest.ts): a real static musl program and
// init carrying kiln's ELF note (built with Debian's musl-gcc), module files under /lib/modules, kiln's
// generated config, and an added file. Switching to a real bake is the one call in `helloImage`.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type CpioEntry, writeCpio } from "../../src/bake/cpio.js";
import type { SbomInputs } from "../../src/compliance/sbomInputs.js";
import { encodeKilnNote } from "../../src/core/elf.js";
import { TUPLE } from "../../src/core/version.js";
import type { ImageManifest } from "../../src/manifest/imageManifest.js";
import { tmpDir } from "../helpers.js";

export const KERNEL_PACKAGE = "linux-image-6.1.0-56-cloud-amd64";
export const KERNEL_VERSION = "6.1.192-2";
export const KERNEL_RELEASE = "6.1.0-56-cloud-amd64";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function muslVersion(): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template
  return execFileSync("dpkg-query", ["-W", "-f=${Version}", "musl-dev"]).toString().trim();
}

/** A static musl program with kiln's note, compiled for real. */
function compile(dir: string, name: string, source: string, libc: string): Buffer {
  const note = encodeKilnNote({ tuple: TUPLE, libc, toolchain: "gcc 12 (fixture)" });
  const bytes = (b: Buffer) => [...b].join(",");
  const asm = [
    '\t.section .note.kiln,"aR",@note',
    "\t.balign 4",
    `\t.long 5, ${note.length}, 0x6b696c6e`,
    `\t.byte ${bytes(Buffer.from("kiln\0"))}`,
    "\t.balign 4",
    `\t.byte ${bytes(note)}`,
    "\t.balign 4",
    '\t.section .note.GNU-stack,"",@progbits',
    "",
  ].join("\n");
  writeFileSync(join(dir, `${name}.c`), source);
  writeFileSync(join(dir, `${name}-note.s`), asm);
  execFileSync("musl-gcc", [
    "-static",
    "-Os",
    "-s",
    "-o",
    join(dir, name),
    join(dir, `${name}.c`),
    join(dir, `${name}-note.s`),
  ]);
  return readFileSync(join(dir, name));
}

export interface FixtureImage {
  dir: string;
  /** Debian facts for deterministic tests (what bake would record as manifest.sbom). */
  inputs: SbomInputs;
  manifest: ImageManifest;
  cleanup(): void;
}

export interface FixtureOptions {
  /** Extra added files (path → content). */
  files?: Record<string, string>;
  /** Files put in the initrd without the manifest naming them. */
  unlisted?: Record<string, string>;
  /** Number of extra programs (the benchmark's 200-part image). */
  extraPrograms?: number;
  modules?: string[];
  /** Write the Debian facts into manifest.sbom, as bake will (default true); false: gather on the host. */
  record?: boolean;
  /** Shared libraries from Debian packages (the later "Packages" issue): one file each, mapped in manifest.sbom. */
  debPackages?: { name: string; source: string; version: string; copyright?: string }[];
}

const DEFAULT_MODULES = [
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio_mmio.ko",
  "kernel/drivers/net/virtio_net.ko",
  "kernel/drivers/block/virtio_blk.ko",
];

/** The hello image: kiln-init, /bin/hello, five virtio modules, kiln's config, one added file. */
export async function helloImage(opts: FixtureOptions = {}): Promise<FixtureImage> {
  return syntheticImage(opts);
}

export async function syntheticImage(opts: FixtureOptions = {}): Promise<FixtureImage> {
  const tmp = tmpDir("kiln-compliance-");
  const build = join(tmp.path, "build");
  const dir = join(tmp.path, "hello.img");
  mkdirSync(build);
  mkdirSync(dir);
  const libc = `musl ${muslVersion()}`;
  const init = compile(build, "init", "int main(void){return 0;}\n", libc);
  const hello = compile(
    build,
    "hello",
    '#include <stdio.h>\nint main(void){puts("Hello, kiln!");return 0;}\n',
    libc,
  );
  const kernel = Buffer.concat([Buffer.from("MZ fixture kernel "), Buffer.alloc(4096, 0x4b)]);
  const mods = (opts.modules ?? DEFAULT_MODULES).map((rel) => ({
    name: rel.slice(rel.lastIndexOf("/") + 1, -3),
    path: `/lib/modules/${KERNEL_RELEASE}/${rel}`,
    data: Buffer.concat([Buffer.from("\x7fELF module "), Buffer.from(rel)]),
  }));
  const programs = [{ path: "/bin/hello", data: hello }];
  for (let i = 0; i < (opts.extraPrograms ?? 0); i++) {
    // Distinct bytes per program: the same binary with a different trailing byte string.
    programs.push({ path: `/bin/tool${i}`, data: Buffer.concat([hello, Buffer.from(`tool${i}`)]) });
  }
  const files = { "/etc/hello.conf": "greeting = hello\n", ...(opts.files ?? {}) };
  const debFiles = (opts.debPackages ?? []).map((d) => ({
    ...d,
    path: `/usr/lib/x86_64-linux-gnu/${d.name}.so.1`,
    data: Buffer.from(`\x7fELF shared library ${d.name} ${d.version}`),
  }));
  const config = { v: 1 as const, rc: [{ bin: "/bin/hello", argv: ["hello"], mode: "main" as const }] };
  const entries: CpioEntry[] = [
    { path: "/init", mode: 0o755, data: init },
    { path: "/kiln/image.json", data: Buffer.from(`${JSON.stringify(config)}\n`) },
    { path: "/kiln/modules", data: Buffer.from(mods.map((x) => `${x.path}\n`).join("")) },
    ...programs.map((p) => ({ path: p.path, mode: 0o755, data: p.data })),
    ...mods.map((x) => ({ path: x.path, data: x.data })),
    ...Object.entries(files).map(([path, text]) => ({ path, data: Buffer.from(text) })),
    ...Object.entries(opts.unlisted ?? {}).map(([path, text]) => ({ path, data: Buffer.from(text) })),
    ...debFiles.map((d) => ({ path: d.path, data: d.data })),
    { path: "/tmp", type: "dir" as const, mode: 0o1777 },
  ];
  const initrd = writeCpio(entries);
  const manifest: ImageManifest = {
    v: 1,
    kiln: "0.1.0",
    name: "hello",
    platform: "qemu",
    kernel: {
      file: "kernel",
      format: "bzimage",
      kind: "stock",
      release: KERNEL_RELEASE,
      package: KERNEL_PACKAGE,
      version: KERNEL_VERSION,
      sha256: sha256(kernel),
      size: kernel.length,
    },
    initrd: { file: "initrd", sha256: sha256(initrd), size: initrd.length, entries: 0 },
    cmdline: "console=ttyS0 quiet",
    acpi: true,
    components: [{ name: "virtio.net", how: "module" }],
    modules: mods.map((x) => ({ name: x.name, path: x.path, sha256: sha256(x.data), size: x.data.length })),
    programs: programs.map((p) => ({
      path: p.path,
      source: p.path.slice(5),
      sha256: sha256(p.data),
      size: p.data.length,
      note: { tuple: TUPLE, libc, toolchain: "gcc 12 (fixture)" },
    })),
    files: [
      ...Object.entries(files).map(([path, text]) => ({
        path,
        sha256: sha256(Buffer.from(text)),
        size: Buffer.byteLength(text),
      })),
      ...debFiles.map((d) => ({ path: d.path, sha256: sha256(d.data), size: d.data.length })),
    ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    init: { path: "/init", sha256: sha256(init), size: init.length, version: "0.1.0" },
    config,
  };
  const inputs: SbomInputs = {
    v: 1,
    debian: {
      release: "12",
      arch: "amd64",
      packages: {
        "musl-dev": {
          version: muslVersion(),
          source: "musl",
          copyright: readFileSync("/usr/share/doc/musl-dev/copyright", "utf8"),
        },
        [KERNEL_PACKAGE]: {
          version: KERNEL_VERSION,
          source: "linux",
          copyright: readFileSync(
            new URL(`../fixtures/compliance/${KERNEL_PACKAGE}.copyright`, import.meta.url),
            "utf8",
          ),
        },
        ...Object.fromEntries(
          debFiles.map((d) => [
            d.name,
            { version: d.version, source: d.source, ...(d.copyright ? { copyright: d.copyright } : {}) },
          ]),
        ),
      },
    },
    ...(debFiles.length
      ? { files: Object.fromEntries(debFiles.map((d) => [d.path, { debPackage: d.name }])) }
      : {}),
  };
  const written = opts.record === false ? manifest : { ...manifest, sbom: inputs };
  writeFileSync(join(dir, "kernel"), kernel);
  writeFileSync(join(dir, "initrd"), initrd);
  writeFileSync(join(dir, "manifest.json"), `${JSON.stringify(written, null, 2)}\n`);
  return { dir, inputs, manifest, cleanup: tmp.cleanup };
}
