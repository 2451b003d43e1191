import { open, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { usageError } from "../core/errors.js";
import type { Image } from "../manifest/imageManifest.js";
import { biosBoot } from "./biosBoot.js";
import { diskIds } from "./diskIds.js";
import { makeFat } from "./fatFilesystem.js";
import { firmwareFile } from "./firmware.js";
import type { FormatOptions, LaunchableFormat } from "./format.js";
import { runTool } from "./hostTool.js";
import { writeLaunchable } from "./launchableOutput.js";
import { fatBytesNeeded } from "./rawDisk.js";
import { makeUki, uefiBootable } from "./uki.js";

const MiB = 1024 * 1024;
/** xorriso's date format (YYYYMMDDhhmmsscc) for FIXED_EPOCH, 1980-01-01 00:00:00 UTC. */
const ISO_DATE = "1980010100000000";

/** An ISO 9660 volume id: d-characters (A-Z 0-9 _), at most 32. */
export function isoVolumeId(name: string): string {
  const id = name
    .toUpperCase()
    .replace(/[^A-Z0-9_]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 32);
  return id || "KILN";
}

/**
 * A hybrid ISO (as Debian's installer images are made): isolinux through El Torito for BIOS from CD, the
 * isohybrid MBR for BIOS from USB, and an EFI System Partition image (unified kernel image) appended as
 * partition 2 and named as the El Torito EFI boot image, for UEFI from CD or USB. xorriso takes the
 * kernel and initrd straight from the image directory (graft points), dates fixed by SOURCE_DATE_EPOCH
 * and --set_all_file_dates, owners and modes rationalised (-r). An image UEFI cannot start (a kernel without
 * EFI stub, a hypervisor to load first) gets a BIOS-only ISO; isolinux loads a hypervisor by multiboot.
 */
async function makeIso(
  image: Image,
  file: string,
  work: string,
  opts: FormatOptions,
): Promise<Record<string, unknown>> {
  if (opts.sizeMB !== undefined) {
    throw usageError(
      "KILN_ESIZE_UNSUPPORTED",
      "Cannot give an ISO a --size: it is as large as what it holds",
      "Leave --size out for iso; disk formats (raw-bios, raw-uefi, qcow2, ...) take it.",
    );
  }
  const env = opts.env;
  const envOpt = env ? { env } : {};
  const efi = await uefiBootable(image);
  // One after the other: with several missing, the error always names the first (a race would not).
  const isolinux = await firmwareFile("isolinux", env);
  const isohdpfx = await firmwareFile("isohdpfx", env);
  const ldlinux = await firmwareFile("ldlinux", env);
  if (efi) await firmwareFile("efiStub", env);
  const m = image.manifest;
  const boot = await biosBoot(image, {
    ...(opts.cmdline !== undefined ? { cmdline: opts.cmdline } : {}),
    ...(opts.hypervisorCmdline !== undefined ? { hypervisorCmdline: opts.hypervisorCmdline } : {}),
    ...envOpt,
  });
  const cmdline = boot.cmdline;
  const cfg = join(work, "isolinux.cfg");
  await writeFile(cfg, boot.config);
  const ids = diskIds(m, "iso", [cmdline, ...(boot.hypervisor ? [boot.hypervisor.cmdline] : [])]);
  const efiImg = join(work, "efi.img");
  let efiBytes = 0;
  if (efi) {
    opts.progress?.step("unified kernel image");
    const uki = await makeUki(image, { cmdline, workDir: work, ...envOpt });
    efiBytes = Math.max(
      8 * MiB,
      Math.ceil((fatBytesNeeded([(await stat(uki)).size], false) * 1.02) / MiB) * MiB,
    );
    const fh = await open(efiImg, "wx");
    await fh.truncate(efiBytes).finally(() => fh.close());
    await makeFat({
      file: efiImg,
      offsetBytes: 0,
      sizeBytes: efiBytes,
      label: "KILN_EFI",
      volumeId: ids.volumeId,
      files: [{ src: uki, dest: "/EFI/BOOT/BOOTX64.EFI" }],
      ...envOpt,
    });
  }

  opts.progress?.step("ISO 9660 image");
  const volumeId = isoVolumeId(opts.name ?? m.name);
  await runTool(
    "xorriso",
    [
      "-report_about",
      "SORRY",
      "-as",
      "mkisofs",
      "-o",
      file,
      "-V",
      volumeId,
      `--modification-date=${ISO_DATE}`,
      "--set_all_file_dates",
      ISO_DATE,
      "-r",
      "-isohybrid-mbr",
      isohdpfx,
      "-b",
      "isolinux/isolinux.bin",
      "-c",
      "isolinux/boot.cat",
      "-no-emul-boot",
      "-boot-load-size",
      "4",
      "-boot-info-table",
      ...(efi
        ? [
            "-eltorito-alt-boot",
            "-e",
            "--interval:appended_partition_2:all::",
            "-no-emul-boot",
            "-isohybrid-gpt-basdat",
            "-append_partition",
            "2",
            "0xef",
            efiImg,
          ]
        : []),
      "-graft-points",
      `isolinux/isolinux.bin=${isolinux}`,
      `isolinux/ldlinux.c32=${ldlinux}`,
      `isolinux/isolinux.cfg=${cfg}`,
      ...boot.modules.map((x) => `isolinux/${x.name}=${x.src}`),
      ...boot.files.map((f) => `${f.dest.slice(1)}=${f.src}`),
    ],
    envOpt,
  );
  return {
    volumeId,
    cmdline,
    ...(boot.hypervisor ? { hypervisor: boot.hypervisor } : {}),
    uefi: efi,
    efiImageMB: efiBytes / MiB,
  };
}

export const format: LaunchableFormat = {
  name: "iso",
  description:
    "hybrid ISO 9660 image: boots from CD or USB with BIOS (isolinux) or UEFI (unified kernel image)",
  async make(image, out, opts) {
    const r = await writeLaunchable(out, opts, (file, work) => makeIso(image, file, work, opts));
    return { format: "iso", ...r };
  },
};
