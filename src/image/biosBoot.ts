import { stat } from "node:fs/promises";
import { q, usageError } from "../core/errors.js";
import type { Image } from "../manifest/imageManifest.js";
import { firmwareFile } from "./firmware.js";
import { launchableCmdline, launchableHypervisorCmdline } from "./launchableCmdline.js";
import { syslinuxConfig } from "./syslinuxConfig.js";

/** What a syslinux-family boot loader (syslinux on FAT, isolinux on ISO 9660) needs beside itself to boot an image. */
export interface BiosBoot {
  /** syslinux.cfg / isolinux.cfg. */
  config: string;
  /** Files the configuration names, by absolute path on the medium, in the order they should be written. */
  files: { src: string; dest: string }[];
  /** COM32 modules the configuration runs: they go in the boot loader's own directory. */
  modules: { src: string; name: string }[];
  /** Their sizes in bytes, for sizing a file system. */
  bytes: number;
  cmdline: string;
  /** The hypervisor's name and command line, when the image boots under one. */
  hypervisor?: { name: string; cmdline: string };
}

export interface BiosBootOptions {
  cmdline?: string;
  hypervisorCmdline?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * How syslinux boots an image: its kernel and initrd directly, or, for an image that carries a hypervisor
 * (a Xen host), the hypervisor by multiboot through mboot.c32 (which needs libcom32.c32 beside it) with the
 * kernel and the initrd as its modules. The hypervisor goes on the medium under its own name (/xen), which
 * is how a launcher reading the configuration back tells which hypervisor boots.
 */
export async function biosBoot(image: Image, opts: BiosBootOptions): Promise<BiosBoot> {
  const m = image.manifest;
  const cmdline = launchableCmdline(m, opts.cmdline);
  const files = [
    { src: image.kernel, dest: "/vmlinuz" },
    { src: image.initrd, dest: "/initrd" },
  ];
  const modules: BiosBoot["modules"] = [];
  let hypervisor: BiosBoot["hypervisor"];
  if (m.hypervisor || opts.hypervisorCmdline !== undefined) {
    const hvCmdline = launchableHypervisorCmdline(m, opts.hypervisorCmdline);
    const hv = m.hypervisor!;
    if (!image.hypervisor || !/^[a-z][a-z0-9_-]*$/.test(hv.name)) {
      throw usageError(
        "KILN_EIMAGE_INVALID",
        `Image ${q(image.dir)} names hypervisor ${q(hv.name)}, which is no plain name, or no file of it`,
        "Bake the image again with this kiln.",
      );
    }
    hypervisor = { name: hv.name, cmdline: hvCmdline };
    files.unshift({ src: image.hypervisor, dest: `/${hv.name}` });
    modules.push(
      { src: await firmwareFile("mboot", opts.env), name: "mboot.c32" },
      { src: await firmwareFile("libcom32", opts.env), name: "libcom32.c32" },
    );
  }
  let bytes = 0;
  for (const f of [...files, ...modules]) bytes += (await stat(f.src)).size;
  const config = syslinuxConfig({
    kernel: "/vmlinuz",
    initrd: "/initrd",
    cmdline,
    ...(hypervisor ? { hypervisor: { file: `/${hypervisor.name}`, cmdline: hypervisor.cmdline } } : {}),
  });
  return { config, files, modules, bytes, cmdline, ...(hypervisor ? { hypervisor } : {}) };
}
