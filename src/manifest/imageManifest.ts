/**
 * A baked image is a directory: `kernel`, `initrd` (cpio newc, uncompressed) and `manifest.json`.
 * The manifest is the contract between bake and every consumer (launch, image formats, compliance):
 * consumers read it, never guess from file names. Fields are only ever added within v1.
 */
import { constants } from "node:fs";
import { lstat, open, readFile, readlink } from "node:fs/promises";
import { join } from "node:path";
import { sha256 } from "../core/digest.js";
import { fileDigest } from "../core/digestCache.js";
import { KilnError, q } from "../core/errors.js";
import type { BootConfig } from "./bootConfig.js";

export interface ImagePart {
  file: string;
  sha256: string;
  size: number;
}

export interface ImageManifest {
  v: 1;
  kiln: string;
  name: string;
  platform: string;
  kernel: ImagePart & {
    /** bzimage boots anywhere; elf (PVH vmlinux) boots with QEMU -kernel and Xen PVH. */
    format: "bzimage" | "elf";
    kind: "stock" | "specialized";
    /** Which of Debian's kernels a stock kernel is: "cloud" or "generic" (absent in older images: cloud). */
    flavour?: string;
    release: string;
    package?: string;
    version?: string;
  };
  /**
   * The hypervisor the image boots under, when it carries one (a Xen host): launchers load it first
   * (multiboot), with the kernel and the initrd as its modules; the kernel then runs as its first domain.
   */
  hypervisor?: ImagePart & {
    name: string;
    format: "elf";
    package: string;
    version: string;
    source?: string;
    /** The hypervisor's own command line; a launcher adds what depends on the machine (memory). */
    cmdline: string;
  };
  /**
   * The nftables ruleset baked with --firewall: kiln-init's first setup step loads it with Debian's nft
   * (an rc entry of the configuration) before anything else runs and before the image reports ready.
   */
  firewall?: { path: string; sha256: string; size: number; nft: string };
  /** `mtime`: the time every entry carries, in seconds since 1970 (absent: 0, as in images from before). */
  initrd: ImagePart & { entries: number; mtime?: number };
  /** The smallest memory the image boots in, in MiB, when its platform says (launchers default to it). */
  memory?: number;
  /** Kernel command line the image needs (console, quiet, ...); launchers append their own parts. */
  cmdline: string;
  /** Whether the kernel must see ACPI to find its devices (the stock kernel on microvm does). */
  acpi: boolean;
  /**
   * kiln-init here can wait at kiln.hold=1 for its launch's parameters, so a launcher may boot it once and
   * restore every later launch from the saved state (src/launch/bootState.ts). Absent in older images.
   */
  holds?: true;
  components: { name: string; how: string }[];
  modules: { name: string; path: string; sha256: string; size: number }[];
  programs: { path: string; source: string; sha256: string; size: number; note?: Record<string, string> }[];
  files: { path: string; sha256: string; size: number }[];
  /** Symlinks in the initrd (from --add trees and Debian packages), when there are any. */
  links?: { path: string; target: string }[];
  /**
   * The image's users and groups, when it has an /etc/passwd (its own, or its packages' accounts); absent:
   * kiln-init's root and nobody. `-u NAME` resolves against these at launch.
   */
  accounts?: {
    users: { name: string; uid: number; gid: number; home: string }[];
    groups: { name: string; gid: number }[];
  };
  init: { path: string; sha256: string; size: number; version: string };
  /** The baked boot configuration (also in the initrd as /kiln/image.json). */
  config: BootConfig;
  /** What the SBOM needs that the image's bytes do not say (src/compliance/sbomInputs.ts). */
  sbom?: SbomInputs;
  /** Present when a licence policy was overridden with --allow-license-violations. */
  licensePolicy?: PolicyOverride;
  /** How the image was made, for `kiln verify` (no host paths). */
  provenance?: {
    v: 1;
    kiln: string;
    toolchain: { cc: string; libc: string };
    command: string[];
    inputs: {
      kernel: { kind: string; package?: string; version?: string; sha256: string };
      hypervisor?: { package: string; version: string; sha256: string };
      kilnInit: { version: string; sha256: string };
      programs: string[];
      files: string[];
      components: string[];
    };
  };
}

/** What an SBOM needs that the image's bytes do not say; recorded by bake (src/compliance/sbomInputs.ts). */
export interface DebPackageFacts {
  version: string;
  /** Source package name; defaults to the binary name. */
  source?: string;
  /** Source version; defaults to `version`. */
  sourceVersion?: string;
  /** The copyright file's text (DEP-5 or not). */
  copyright?: string;
  /** Or: the copyright file's path relative to the image directory (where bake may copy it). */
  copyrightFile?: string;
}

export interface DebianFacts {
  /** Debian release number ("12"): advisories use the ecosystems "Debian" and "Debian:12". */
  release: string;
  arch: string;
  /** By binary package name. */
  packages: Record<string, DebPackageFacts>;
}

export interface FileFacts {
  /** The Debian package the file comes from (a key of `debian.packages`). */
  debPackage?: string;
  name?: string;
  version?: string;
  /** SPDX expression. */
  license?: string;
  supplier?: string;
  purl?: string;
}

export interface SbomInputs {
  v: 1;
  debian?: DebianFacts;
  /** By absolute path in the initrd. */
  files?: Record<string, FileFacts>;
  /** Seconds since 1970 (SOURCE_DATE_EPOCH at bake time): the SBOMs' creation time. Default 0. */
  created?: number;
}

/**
 * What a bake that overrode the policy records in its manifest (proposed field `licensePolicy`). No host
 * path of the policy file: manifests must not depend on where the project was.
 */
export interface PolicyOverride {
  v: 1;
  allow?: string[];
  deny?: string[];
  overridden: true;
  violations: {
    part: string;
    license: string;
    rule: "allow" | "deny";
    offending: string[];
    entry?: string;
  }[];
}

export interface Image {
  dir: string;
  manifest: ImageManifest;
  kernel: string;
  initrd: string;
  /** The kernel as an ELF with a PVH entry, when the launcher has one (src/launch/directKernel.ts). */
  direct?: string;
  /** The hypervisor's file, when the image carries one. */
  hypervisor?: string;
}

/** The parts of an image its manifest describes by digest. */
export type ImagePartName = "kernel" | "initrd" | "hypervisor";

const PART_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HEX64 = /^[0-9a-f]{64}$/;

function damaged(dir: string, what: string): KilnError {
  return new KilnError(
    "KILN_EIMAGE_CORRUPT",
    `${what[0]!.toUpperCase()}${what.slice(1)}`,
    `The image ${q(dir)} was changed after it was baked; bake (or pull) it again.`,
  );
}

/**
 * A file of the image as it is on disk: a regular file directly in the image directory, never a symlink
 * (an initrd replaced by a link to /etc/passwd must not carry the host's file into a disk).
 */
async function regularFile(dir: string, name: string, what: string): Promise<void> {
  const path = join(dir, name);
  const st = await lstat(path).catch(() => undefined);
  if (!st) throw damaged(dir, `the ${what} of image ${q(dir)} (${q(name)}) is missing`);
  if (st.isSymbolicLink()) {
    const to = await readlink(path).catch(() => "?");
    throw damaged(
      dir,
      `the ${what} of image ${q(dir)} (${q(name)}) is a symbolic link to ${q(to)}, not a file of the image`,
    );
  }
  if (!st.isFile()) throw damaged(dir, `the ${what} of image ${q(dir)} (${q(name)}) is not a regular file`);
}

/**
 * Read an image's manifest and check its layout: manifest.json, the kernel and the initrd are regular files
 * in the directory (lstat; no symlink is followed). Cheap. Consumers that use the parts' bytes call
 * openImage (digests too) or readImagePart.
 */
export async function readImage(dir: string): Promise<Image> {
  const manifestStat = await lstat(join(dir, "manifest.json")).catch(() => undefined);
  if (manifestStat && !manifestStat.isFile()) await regularFile(dir, "manifest.json", "manifest");
  let text: string;
  try {
    text = await readFile(join(dir, "manifest.json"), "utf8");
  } catch (e) {
    throw new KilnError(
      "KILN_EIMAGE_NOT_FOUND",
      `Cannot read image ${q(dir)}: no manifest.json there`,
      "Give the directory `kiln bake` wrote.",
      { cause: e },
    );
  }
  let manifest: ImageManifest;
  try {
    manifest = JSON.parse(text) as ImageManifest;
  } catch (e) {
    throw new KilnError(
      "KILN_EIMAGE_INVALID",
      `Cannot parse ${q(join(dir, "manifest.json"))}: not JSON`,
      "Bake the image again.",
      { cause: e },
    );
  }
  if (manifest.v !== 1) {
    throw new KilnError(
      "KILN_EIMAGE_INVALID",
      `Image ${q(dir)} has manifest version ${q(manifest.v)}`,
      "This kiln reads version 1; bake the image again with this kiln.",
    );
  }
  for (const which of imageParts(manifest)) {
    const p = manifest[which] as Partial<ImagePart> | undefined;
    if (
      typeof p?.file !== "string" ||
      !PART_FILE.test(p.file) ||
      typeof p.sha256 !== "string" ||
      !HEX64.test(p.sha256) ||
      !Number.isSafeInteger(p.size)
    ) {
      throw new KilnError(
        "KILN_EIMAGE_INVALID",
        `Image ${q(dir)}: its manifest's ${which} is not a file of the image with a sha256 and a size (${q(JSON.stringify(p ?? null))})`,
        "Bake the image again.",
      );
    }
    await regularFile(dir, p.file, which);
  }
  return {
    dir,
    manifest,
    kernel: join(dir, manifest.kernel.file),
    initrd: join(dir, manifest.initrd.file),
    ...(manifest.hypervisor ? { hypervisor: join(dir, manifest.hypervisor.file) } : {}),
  };
}

/** The files of an image the manifest describes by digest: kernel and initrd, and a hypervisor it carries. */
export function imageParts(m: ImageManifest): ImagePartName[] {
  return m.hypervisor ? ["hypervisor", "kernel", "initrd"] : ["kernel", "initrd"];
}

/** What differs between the parts on disk and the manifest (size, then sha256); empty when nothing does. */
export async function imageDamage(image: Image, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string[]> {
  const problems: string[] = [];
  for (const which of imageParts(image.manifest)) {
    const want = image.manifest[which]!;
    const got = await fileDigest(image[which]!, opts).catch((e: NodeJS.ErrnoException) => e);
    if (got instanceof Error)
      problems.push(`the ${which} of image ${q(image.dir)} cannot be read (${got.code ?? got.message})`);
    else if (got.size !== want.size)
      problems.push(
        `the ${which} of image ${q(image.dir)} is ${got.size} bytes, but its manifest says ${want.size}`,
      );
    else if (got.sha256 !== want.sha256)
      problems.push(
        `the ${which} of image ${q(image.dir)} has sha256 ${got.sha256}, but its manifest says ${want.sha256}`,
      );
  }
  return problems;
}

/**
 * An image to use: layout (readImage) and the kernel's and initrd's digests against the manifest, so that
 * nothing made from or booted from it carries bytes the manifest (and the SBOM) do not describe. Digests
 * come from the digest cache when the files are unchanged (src/core/digestCache.ts): a warm launch hashes
 * nothing.
 */
export async function openImage(dir: string, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Image> {
  const image = await readImage(dir);
  const [problem] = await imageDamage(image, opts);
  if (problem) throw damaged(dir, problem);
  return image;
}

/** The bytes of a part, checked against the manifest as read (for consumers that need the bytes anyway). */
export async function readImagePart(image: Image, which: ImagePartName): Promise<Buffer> {
  const path = image[which];
  const part = image.manifest[which];
  if (!path || !part) throw damaged(image.dir, `image ${q(image.dir)} has no ${which}`);
  let data: Buffer;
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      data = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw damaged(
      image.dir,
      `the ${which} of image ${q(image.dir)} cannot be read (${(e as NodeJS.ErrnoException).code})`,
    );
  }
  const got = sha256(data);
  const want = part.sha256;
  if (got !== want)
    throw damaged(
      image.dir,
      `the ${which} of image ${q(image.dir)} has sha256 ${got}, but its manifest says ${want}`,
    );
  return data;
}
