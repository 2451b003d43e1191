/**
 * A baked image is a directory: `kernel`, `initrd` (cpio newc, uncompressed) and `manifest.json`.
 * The manifest is the contract between bake and every consumer (launch, image formats, compliance):
 * consumers read it, never guess from file names. Fields are only ever added within v1.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
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
  initrd: ImagePart & { entries: number };
  /** The smallest memory the image boots in, in MiB, when its platform says (launchers default to it). */
  memory?: number;
  /** Kernel command line the image needs (console, quiet, ...); launchers append their own parts. */
  cmdline: string;
  /** Whether the kernel must see ACPI to find its devices (the stock kernel on microvm does). */
  acpi: boolean;
  components: { name: string; how: string }[];
  modules: { name: string; path: string; sha256: string; size: number }[];
  programs: { path: string; source: string; sha256: string; size: number; note?: Record<string, string> }[];
  files: { path: string; sha256: string; size: number }[];
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

export async function readImage(dir: string): Promise<Image> {
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
  return {
    dir,
    manifest,
    kernel: join(dir, manifest.kernel.file),
    initrd: join(dir, manifest.initrd.file),
    ...(manifest.hypervisor ? { hypervisor: join(dir, manifest.hypervisor.file) } : {}),
  };
}
