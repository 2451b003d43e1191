import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q } from "../core/errors.js";

/**
 * Boot files the formats take from Debian packages. Each can be moved with an environment variable (a
 * directory for the syslinux/isolinux families, a file for the EFI stub and OVMF); tests use these to show
 * what happens when one is missing.
 */
interface FirmwareSpec {
  what: string;
  envVar: string;
  /** The override names a directory holding `rel`, or (no rel) the file itself. */
  dir?: string;
  rel?: string;
  file?: string;
  package: string;
}

const FIRMWARE = {
  mbr: {
    what: "syslinux MBR boot code",
    envVar: "KILN_SYSLINUX_DIR",
    dir: "/usr/lib/syslinux",
    rel: "mbr/mbr.bin",
    package: "syslinux-common",
  },
  gptmbr: {
    what: "syslinux GPT MBR boot code",
    envVar: "KILN_SYSLINUX_DIR",
    dir: "/usr/lib/syslinux",
    rel: "mbr/gptmbr.bin",
    package: "syslinux-common",
  },
  ldlinux: {
    what: "syslinux core module",
    envVar: "KILN_SYSLINUX_DIR",
    dir: "/usr/lib/syslinux",
    rel: "modules/bios/ldlinux.c32",
    package: "syslinux-common",
  },
  mboot: {
    what: "syslinux multiboot module",
    envVar: "KILN_SYSLINUX_DIR",
    dir: "/usr/lib/syslinux",
    rel: "modules/bios/mboot.c32",
    package: "syslinux-common",
  },
  libcom32: {
    what: "syslinux COM32 library module",
    envVar: "KILN_SYSLINUX_DIR",
    dir: "/usr/lib/syslinux",
    rel: "modules/bios/libcom32.c32",
    package: "syslinux-common",
  },
  isolinux: {
    what: "isolinux boot loader",
    envVar: "KILN_ISOLINUX_DIR",
    dir: "/usr/lib/ISOLINUX",
    rel: "isolinux.bin",
    package: "isolinux",
  },
  isohdpfx: {
    what: "isolinux hybrid MBR",
    envVar: "KILN_ISOLINUX_DIR",
    dir: "/usr/lib/ISOLINUX",
    rel: "isohdpfx.bin",
    package: "isolinux",
  },
  efiStub: {
    what: "systemd EFI stub",
    envVar: "KILN_EFI_STUB",
    file: "/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
    package: "systemd-boot-efi",
  },
  ovmf: {
    what: "OVMF UEFI firmware",
    envVar: "KILN_OVMF",
    file: "/usr/share/ovmf/OVMF.fd",
    package: "ovmf",
  },
} satisfies Record<string, FirmwareSpec>;

export type FirmwareName = keyof typeof FIRMWARE;

/** Where a firmware file is (after overrides), or KILN_EFIRMWARE_MISSING naming it and its package. */
export async function firmwareFile(
  name: FirmwareName,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const spec: FirmwareSpec = FIRMWARE[name];
  const override = env[spec.envVar];
  const path = spec.rel ? join(override || spec.dir!, spec.rel) : override || spec.file!;
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new KilnError(
      "KILN_EFIRMWARE_MISSING",
      `Cannot find the ${spec.what} ${q(path)}`,
      override
        ? `${spec.envVar}=${q(override)} is set; point it at a valid ${spec.rel ? "directory" : "file"} or unset it to use Debian's ${spec.package}.`
        : `Install the Debian package ${spec.package} (apt-get install ${spec.package}).`,
      { details: { file: path, package: spec.package, env: spec.envVar } },
    );
  }
  return path;
}
