/**
 * The `libvirt` launchable: a domain XML for people who manage libvirt themselves (`virsh create FILE`, or
 * `virsh define` and an import into virt-manager or oVirt). It is the domain `kiln launch libvirt` makes
 * (src/launch/libvirtDomain.ts) with what a launchable has: the image's kernel and initrd where they are
 * (absolute paths of the image directory; copy them with the file and change the two paths), the
 * launchable command line (the image's own, serial console, and --cmdline/--net's words), the memory the
 * image needs, the console on a pty for `virsh console`, and for --net dhcp a NIC on libvirt's `default`
 * network. The domain type is kvm, as on any host that runs libvirt for real. No kiln mark: kiln does not
 * own a domain someone else creates from this file.
 */
import { writeFile } from "node:fs/promises";
import { q, usageError } from "../core/errors.js";
import { composeCmdline } from "../launch/cmdline.js";
import { imageMemory } from "../launch/imageMemory.js";
import { domainXml } from "../launch/libvirtDomain.js";
import type { Image } from "../manifest/imageManifest.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { launchableCmdline } from "./launchableCmdline.js";
import { writeLaunchable } from "./launchableOutput.js";

export const format: LaunchableFormat = {
  name: "libvirt",
  description: "libvirt domain XML: direct kernel boot of the image's kernel and initrd (virsh create FILE)",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const m = image.manifest;
    if (m.hypervisor) {
      throw usageError(
        "KILN_EIMAGE_UNSUPPORTED",
        `Cannot describe image ${q(m.name)} as a libvirt domain: it is a ${m.hypervisor.name} host, which boots on a machine`,
        "Make a disk of it instead: kiln image raw-bios IMAGE -o host.img.",
      );
    }
    const memory = await imageMemory(image.kernel, m.initrd.size);
    const memoryMB = Math.max(memory?.defaultMiB ?? 128, m.memory ?? 0);
    const name = opts.name ?? m.name;
    // kiln-init's power-off ends the domain; a panic ends it too rather than hanging on the console.
    const cmdline = composeCmdline(launchableCmdline(m, opts.cmdline), {
      override: [],
      ifAbsent: ["reboot=t", "panic=-1"],
    });
    const xml = domainXml({
      domain: name,
      type: "kvm",
      machine: "q35",
      memoryMB,
      cpus: 1,
      kernel: image.kernel,
      initrd: image.initrd,
      cmdline,
      console: "pty",
      net: opts.net === "dhcp" ? { kind: "network", network: "default" } : { kind: "none" },
      disks: [],
    });
    const r = await writeLaunchable(out, opts, async (file) => {
      await writeFile(file, xml);
      return { domain: name, memoryMB, kernel: image.kernel, initrd: image.initrd };
    });
    return { format: "libvirt", ...r };
  },
};
