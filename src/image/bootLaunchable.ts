import { open } from "node:fs/promises";
import { posix } from "node:path";
import { q, usageError } from "../core/errors.js";
import { firmwareFile } from "./firmware.js";
import { biosPartition, launchableBootConfig } from "./launchableBootConfig.js";
import { syslinuxMultiboot } from "./syslinuxConfig.js";

/** What a launchable file is, told from its content (never its name). */
export type LaunchableKind = "iso" | "raw-bios" | "raw-uefi" | "raw" | "qcow2" | "vmdk" | "vhd";

export interface LaunchableBoot {
  kind: LaunchableKind;
  /** QEMU arguments for machine, firmware and the boot medium (read-only): the driver adds the rest. */
  args: string[];
  /** Below this the firmware or kernel cannot boot (OVMF needs 192 MB; we ask for 256). */
  memoryMinMB: number;
  /** The UEFI firmware file, when the medium boots only with UEFI. */
  firmware?: string;
  /** The hypervisor the medium's boot loader starts first (xen), when it starts one. */
  hypervisor?: string;
}

/** What Xen keeps for itself besides dom0 (its heap, the frame table, guests' page tables): measured ample. */
const XEN_OWN_MB = 256;
/** dom0's memory when the command line does not fix it: what a dom0 with kiln's toolstack boots in. */
const DOM0_FLOOR_MB = 512;

/**
 * The memory a machine needs to boot Xen with this command line: dom0's (dom0_mem=, Xen's syntax: an amount,
 * min: and max: parts, sizes in KiB unless suffixed B, K, M, G or T) and Xen's own. A relative dom0_mem
 * (a percentage, all but some) says nothing absolute: dom0 then gets DOM0_FLOOR_MB.
 */
export function xenMemoryMB(cmdline: string): number {
  const value = cmdline
    .split(/\s+/)
    .filter((w) => w.startsWith("dom0_mem="))
    .pop()
    ?.slice("dom0_mem=".length);
  const mb = (s: string | undefined) => {
    const m = s === undefined ? null : /^(\d+)([bkmgt]?)$/i.exec(s);
    if (!m) return undefined;
    const shift = { b: -20, k: -10, "": -10, m: 0, g: 10, t: 20 }[m[2]!.toLowerCase()]!;
    return Math.ceil(Number(m[1]) * 2 ** shift);
  };
  const parts = (value ?? "").split(",");
  const amount = mb(parts.find((p) => !p.includes(":")));
  const min = mb(parts.find((p) => p.startsWith("min:"))?.slice(4));
  return (amount ?? min ?? DOM0_FLOOR_MB) + XEN_OWN_MB;
}

/** Read what detection needs: the first 64 KiB (MBR, GPT, ISO 9660 descriptors) and the last 512 bytes. */
async function sniff(file: string): Promise<{ head: Buffer; tail: Buffer; size: number }> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, "r");
  } catch (e) {
    throw usageError(
      "KILN_ELAUNCHABLE_NOT_FOUND",
      `Cannot read launchable ${q(file)}: ${(e as NodeJS.ErrnoException).code}`,
      "Give the file `kiln image` wrote.",
    );
  }
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 65536));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(size, 512));
    await fh.read(tail, 0, tail.length, size - tail.length);
    return { head, tail, size };
  } finally {
    await fh.close();
  }
}

export async function detectLaunchable(file: string): Promise<LaunchableKind> {
  const { head, tail } = await sniff(file);
  const at = (off: number, s: string) =>
    head.length >= off + s.length && head.toString("latin1", off, off + s.length) === s;
  // ISO first: a hybrid ISO also carries an MBR and a GPT.
  if (at(0x8001, "CD001")) return "iso";
  if (at(0, "QFI\xfb")) return "qcow2";
  if (at(0, "KDMV") || at(0, "# Disk DescriptorFile")) return "vmdk";
  if (at(0, "conectix") || tail.toString("latin1", 0, 8) === "conectix") return "vhd";
  // BIOS can boot a GPT disk when its protective MBR has boot code and a partition is LegacyBIOSBootable.
  if (head.length >= 1024 && at(512, "EFI PART")) {
    const bootCode = head.subarray(0, 440).some((b) => b !== 0);
    return bootCode && biosPartition(head) !== undefined ? "raw" : "raw-uefi";
  }
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return "raw-bios";
  throw usageError(
    "KILN_ELAUNCHABLE_UNKNOWN",
    `Cannot tell how to boot ${q(file)}: it is not an ISO 9660, MBR or GPT disk, qcow2, VMDK or VHD`,
    "Give a file made by `kiln image` (raw-bios, raw-uefi, raw, iso, qcow2, vmdk or vhd); a gce .tar.gz must be unpacked to disk.raw first.",
  );
}

/** QEMU quotes commas in option values by doubling them. */
const qemuValue = (s: string) => s.replaceAll(",", ",,");

/**
 * How QEMU boots a launchable without -kernel: by its firmware from the medium, as the target system would.
 * BIOS where the medium allows it (SeaBIOS is fast), OVMF on q35 where it needs UEFI. The converted formats
 * (qcow2, vmdk, vhd) hold a disk that boots either way; `uefi` asks for UEFI where the medium has both. A
 * medium whose boot loader starts a hypervisor (a Xen host's) boots by BIOS only, and needs the memory its
 * command line gives dom0 (the driver also picks the CPU model Xen needs).
 */
export async function qemuArgsForLaunchable(
  file: string,
  opts: { uefi?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<LaunchableBoot> {
  const kind = await detectLaunchable(file);
  const formats: Record<LaunchableKind, string> = {
    iso: "raw",
    "raw-bios": "raw",
    "raw-uefi": "raw",
    raw: "raw",
    qcow2: "qcow2",
    vmdk: "vmdk",
    vhd: "vpc",
  };
  // bootindex=0: the firmware boots the medium even when other disks are attached after it.
  const medium =
    kind === "iso"
      ? [
          "-drive",
          `file=${qemuValue(file)},if=none,id=boot,format=raw,media=cdrom,readonly=on`,
          "-device",
          "ide-cd,drive=boot,bootindex=0",
        ]
      : [
          "-drive",
          `file=${qemuValue(file)},if=none,id=boot,format=${formats[kind]},readonly=on`,
          "-device",
          "virtio-blk-pci,drive=boot,bootindex=0",
        ];
  const config = await launchableBootConfig(file, kind, {
    ...(opts.env ? { env: opts.env } : {}),
    ...(formats[kind] !== "raw" ? { qemuFormat: formats[kind] } : {}),
  });
  const mboot = config === undefined ? undefined : syslinuxMultiboot(config);
  if (mboot) {
    const hypervisor = posix.basename(mboot.hypervisor);
    if (opts.uefi) {
      throw usageError(
        "KILN_ELAUNCHABLE_NO_UEFI",
        `Cannot boot launchable ${q(file)} with UEFI: its boot loader starts ${q(hypervisor)} by multiboot, from BIOS only`,
        "Drop --uefi.",
      );
    }
    return { kind, args: ["-M", "pc", ...medium], memoryMinMB: xenMemoryMB(mboot.cmdline), hypervisor };
  }
  const uefi = kind === "raw-uefi" || (opts.uefi === true && kind !== "raw-bios");
  if (!uefi) return { kind, args: ["-M", "pc", ...medium], memoryMinMB: 128 };
  const ovmf = await firmwareFile("ovmf", opts.env);
  return { kind, args: ["-M", "q35", "-bios", ovmf, ...medium], memoryMinMB: 256, firmware: ovmf };
}
