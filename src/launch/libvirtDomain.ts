/**
 * A kiln image as a libvirt domain (https://libvirt.org/formatdomain.html): direct kernel boot of the
 * image's kernel and initrd with kiln's command line, on q35 or pc (libvirt 9.0 has no microvm), with the
 * console on the first serial port and the machine's devices as virtio PCI devices, which the qemu
 * platform's kernels drive. The domain carries kiln's mark in its <metadata> (namespace KILN_LIBVIRT_NS):
 * kiln touches no domain without it.
 */
import type { MachineSpec } from "./machine.js";

/** kiln's XML namespace in a domain's <metadata>: `virsh metadata DOMAIN --uri KILN_LIBVIRT_NS`. */
export const KILN_LIBVIRT_NS = "https://kiln.dev/xmlns/libvirt/machine/1";

export interface KilnMark {
  /** The kiln machine's name (the domain is `kiln-NAME`). */
  machine: string;
  /** Random per launch: tells this launch's domain from an older one of the same name. */
  id: string;
  image: string;
}

export interface DomainXmlInput {
  domain: string;
  /** kiln's mark, on every domain kiln launches (a domain XML written for others has none). */
  mark?: KilnMark;
  /** kvm where the host has it and kiln chose it, else qemu (software emulation). */
  type: "kvm" | "qemu";
  machine: "q35" | "pc";
  memoryMB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  /** A file the console goes to (kiln follows it), or a pty for `virsh console`. */
  console: { file: string } | "pty";
  net: MachineSpec["net"] | { kind: "network"; network: string; mac?: string };
  disks: { path: string; ro: boolean }[];
}

/** XML text and attribute values: the five characters XML reserves. */
export function xmlEscape(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

export function domainXml(i: DomainXmlInput): string {
  const e = xmlEscape;
  const l: string[] = [
    `<domain type='${i.type}'>`,
    `  <name>${e(i.domain)}</name>`,
    ...(i.mark
      ? [
          "  <metadata>",
          `    <kiln:machine xmlns:kiln='${KILN_LIBVIRT_NS}' name='${e(i.mark.machine)}' id='${e(i.mark.id)}' image='${e(i.mark.image)}'/>`,
          "  </metadata>",
        ]
      : []),
    `  <memory unit='MiB'>${i.memoryMB}</memory>`,
    `  <vcpu>${i.cpus}</vcpu>`,
    "  <os>",
    `    <type arch='x86_64' machine='${i.machine}'>hvm</type>`,
    `    <kernel>${e(i.kernel)}</kernel>`,
    `    <initrd>${e(i.initrd)}</initrd>`,
    `    <cmdline>${e(i.cmdline)}</cmdline>`,
    "  </os>",
    // ACPI is how kiln-init's power-off reaches q35 and pc; the machine goes when the program ends.
    "  <features><acpi/></features>",
    "  <on_poweroff>destroy</on_poweroff>",
    "  <on_reboot>destroy</on_reboot>",
    "  <on_crash>destroy</on_crash>",
    "  <devices>",
  ];
  i.disks.forEach((d, n) => {
    l.push(
      "    <disk type='file' device='disk'>",
      "      <driver name='qemu' type='raw'/>",
      `      <source file='${e(d.path)}'/>`,
      `      <target dev='vd${String.fromCharCode(97 + n)}' bus='virtio'/>`,
      ...(d.ro ? ["      <readonly/>"] : []),
      "    </disk>",
    );
  });
  const net = i.net;
  if (net.kind !== "none") l.push(...interfaceXml(net));
  if (i.console === "pty") {
    l.push("    <serial type='pty'><target port='0'/></serial>", "    <console type='pty'/>");
  } else {
    l.push(
      "    <serial type='file'>",
      `      <source path='${e(i.console.file)}' append='off'/>`,
      "      <target port='0'/>",
      "    </serial>",
    );
  }
  // Nothing kiln's guests use: no USB, balloon or graphics (libvirt adds a USB controller and a balloon
  // unless told not to).
  l.push(
    "    <controller type='usb' model='none'/>",
    "    <memballoon model='none'/>",
    "  </devices>",
    "</domain>",
  );
  return `${l.join("\n")}\n`;
}

function interfaceXml(net: Exclude<DomainXmlInput["net"], { kind: "none" }>): string[] {
  const e = xmlEscape;
  const model = "      <model type='virtio'/>";
  if (net.kind === "user") {
    // libvirt's user networking: passt (the only backend with port forwards) when ports are forwarded, else
    // QEMU's own slirp. passt hands the guest the address kiln gives it (runtimeConfig's USER_NET).
    if (net.forwards.length === 0) return ["    <interface type='user'>", model, "    </interface>"];
    const l = [
      "    <interface type='user'>",
      "      <backend type='passt'/>",
      "      <ip family='ipv4' address='10.0.2.15' prefix='24'/>",
    ];
    for (const f of net.forwards) {
      l.push(
        `      <portForward proto='${f.proto}' address='${e(f.hostAddr ?? "127.0.0.1")}'>`,
        `        <range start='${f.host}' to='${f.guest}'/>`,
        "      </portForward>",
      );
    }
    l.push(model, "    </interface>");
    return l;
  }
  const mac = "mac" in net && net.mac ? [`      <mac address='${e(net.mac)}'/>`] : [];
  if (net.kind === "bridge")
    return [
      "    <interface type='bridge'>",
      ...mac,
      `      <source bridge='${e(net.bridge)}'/>`,
      model,
      "    </interface>",
    ];
  if (net.kind === "network")
    return [
      "    <interface type='network'>",
      ...mac,
      `      <source network='${e(net.network)}'/>`,
      model,
      "    </interface>",
    ];
  if (net.kind === "socket") throw new Error("unreachable: a socket link (the driver's check refuses it)");
  // A tap kiln does not make: libvirt opens the existing device by name (managed='no').
  return [
    "    <interface type='ethernet'>",
    ...mac,
    `      <target dev='${e(net.ifname)}' managed='no'/>`,
    model,
    "    </interface>",
  ];
}
