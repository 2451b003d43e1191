import { open, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q, usageError } from "../core/errors.js";
import type { Image } from "../manifest/imageManifest.js";
import { firmwareFile } from "./firmware.js";
import { runTool } from "./hostTool.js";
import { fixPeTimestampFile, readPeHeaders } from "./peImage.js";

const PAGE = 4096;

/**
 * Whether a bzImage can be started by UEFI firmware (or systemd's stub): with CONFIG_EFI_STUB it is also a PE
 * file, "MZ" at offset 0. Debian's kernel is; a specialized kernel (no ACPI/EFI in its component set) is not.
 */
async function kernelHasEfiStub(kernel: string): Promise<boolean> {
  const fh = await open(kernel, "r");
  try {
    const b = Buffer.alloc(2);
    await fh.read(b, 0, 2, 0);
    return b.toString("latin1") === "MZ";
  } finally {
    await fh.close();
  }
}

/**
 * Whether UEFI firmware can start the image from a medium kiln makes: its kernel has an EFI stub, and no
 * hypervisor has to come first (kiln's UEFI media hold a unified kernel image, which starts Linux alone).
 */
export async function uefiBootable(image: Image): Promise<boolean> {
  return !image.manifest.hypervisor && (await kernelHasEfiStub(image.kernel));
}

/** Why a UEFI-only format cannot be made of an image uefiBootable() refused. */
export function notUefiBootable(image: Image, format: string): KilnError {
  const m = image.manifest;
  if (m.hypervisor) {
    return usageError(
      "KILN_EIMAGE_UNSUPPORTED",
      `Cannot make ${q(format)} from image ${q(m.name)}: it boots the ${m.hypervisor.name} hypervisor by multiboot, which kiln's UEFI media cannot start`,
      `Make a BIOS launchable (kiln image raw-bios ${image.dir}; raw, iso, qcow2, vmdk, vhd and gce boot it by BIOS too), and boot a UEFI machine with its legacy BIOS (CSM) enabled.`,
    );
  }
  return new KilnError(
    "KILN_EKERNEL_NO_EFI",
    `Cannot make ${q(format)} from image ${q(m.name)}: its ${m.kernel.kind} kernel has no EFI stub, so UEFI firmware cannot start it`,
    "Make a BIOS launchable (raw-bios, or raw/iso/qcow2, which boot by BIOS), or bake with --kernel stock for UEFI.",
  );
}

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * A unified kernel image: systemd's EFI stub with the os-release, command line, initrd and kernel added as
 * PE sections (what `ukify` does; it is not packaged for Debian 12). Sections follow the stub's last one,
 * page-aligned, kernel last. objcopy stamps the current time into the COFF header; we set it to 0, as the
 * stub itself has, and fix the checksum. The kernel must have an EFI stub: callers check (kernelHasEfiStub),
 * since what to do without one (refuse, or make a BIOS-only medium) is theirs to decide.
 */
export async function makeUki(
  image: Image,
  opts: { cmdline: string; workDir: string; env?: NodeJS.ProcessEnv },
): Promise<string> {
  const stub = await firmwareFile("efiStub", opts.env);
  const stubBuf = await readFile(stub);
  const h = readPeHeaders(stubBuf, stub);
  const align = Math.max(PAGE, h.sectionAlignment);
  let next = alignUp(
    Math.max(...h.sections.map((s) => s.virtualAddress + Math.max(s.virtualSize, s.rawSize))),
    align,
  );
  const osrel = join(opts.workDir, "uki.osrel");
  const cmdline = join(opts.workDir, "uki.cmdline");
  const m = image.manifest;
  await writeFile(
    osrel,
    `NAME="kiln"\nID=kiln\nVERSION_ID="${m.kiln}"\nPRETTY_NAME="kiln image ${m.name.replace(/["\\$`]/g, "")}"\n`,
  );
  await writeFile(cmdline, opts.cmdline);
  const parts: [string, string][] = [
    [".osrel", osrel],
    [".cmdline", cmdline],
    [".initrd", image.initrd],
    [".linux", image.kernel],
  ];
  const args: string[] = [];
  for (const [name, file] of parts) {
    const vma = h.imageBase + BigInt(next);
    args.push("--add-section", `${name}=${file}`, "--change-section-vma", `${name}=0x${vma.toString(16)}`);
    next = alignUp(next + (await stat(file)).size, align);
  }
  const out = join(opts.workDir, "BOOTX64.EFI");
  await runTool("objcopy", [...args, stub, out], opts.env ? { env: opts.env } : {});
  await fixPeTimestampFile(out, 0);
  return out;
}
