/**
 * libvirt: the image as a transient libvirt domain (virsh create), on this host (qemu:///system) or any
 * other libvirt reaches (--connect qemu+ssh://HOST/system). Direct kernel boot with kiln's command line, as
 * QEMU's driver computes it for the same machine type; the kernel and initrd travel into kiln's storage
 * pool on the domain's host (libvirtPool.ts); the console goes to a file in that pool, which a follower
 * process (libvirtFollow.ts) copies to kiln, and which ends when the domain powers off and vanishes. The
 * domain carries kiln's mark (libvirtDomain.ts): a domain of the same name without it, or with another
 * launch's, is never replaced, stopped or destroyed.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KilnError, q, usageError } from "../../core/errors.js";
import { which } from "../../core/exec.js";
import type { Image } from "../../manifest/imageManifest.js";
import { domainXml } from "../libvirtDomain.js";
import {
  DOMAIN_XML,
  findDomain,
  LIBVIRT_FILE,
  type LibvirtMachine,
  notOursError,
  readLibvirtMachine,
} from "../libvirtMachine.js";
import {
  createEmptyVolume,
  deleteVolume,
  ensurePool,
  KILN_POOL_TARGET,
  uploadVolume,
  volumesPresent,
} from "../libvirtPool.js";
import type { Driver, LaunchPlan, MachineSpec, PlanContext, ProbeResult } from "../machine.js";
import { isOurProcess } from "../state.js";
import { DEFAULT_LIBVIRT_URI, isLocalUri, virsh, virshBinary } from "../virsh.js";
import { qemuDriver } from "./qemu.js";
import { terminate, waitGone } from "./waitGone.js";
import { unsupportedCommon } from "./xen.js";

export function libvirtUri(spec: Pick<MachineSpec, "connect">): string {
  return spec.connect ?? DEFAULT_LIBVIRT_URI;
}

/** The domain a kiln machine is: kiln-NAME, as xl's and QEMU's -name are. */
export function domainName(machine: string): string {
  return `kiln-${machine}`;
}

/** libvirt 9.0 knows q35 and pc; a machine left to kiln is q35 (PCI, ACPI power-off, the PVH kernel). */
function machineType(spec: MachineSpec): "q35" | "pc" {
  return spec.machine === "pc" ? "pc" : "q35";
}

/** Volume names in kiln's pool: a baked part by its digest (shared by every launch), a launch's own by machine. */
export function bootVolumes(
  image: Image,
  initrd: string,
  machine: string,
  id: string,
): { kernel: LibvirtMachine["uploads"][number]; initrd: LibvirtMachine["uploads"][number] } {
  const m = image.manifest;
  return {
    kernel: image.direct
      ? { file: image.direct, volume: `kernel-${m.kernel.sha256}.pvh.elf`, own: false }
      : { file: image.kernel, volume: `kernel-${m.kernel.sha256}`, own: false },
    initrd:
      initrd === image.initrd
        ? { file: initrd, volume: `initrd-${m.initrd.sha256}`, own: false }
        : { file: initrd, volume: `${domainName(machine)}-${id}.initrd`, own: true },
  };
}

export const libvirtDriver: Driver = {
  name: "libvirt",

  async probe(): Promise<ProbeResult> {
    if (await which(virshBinary())) return { available: true };
    return {
      available: false,
      reason: `libvirt's client ${q(virshBinary())} was not found`,
      hint: "Install it: apt-get install libvirt-clients (the host that runs the machines needs libvirt-daemon-driver-qemu).",
    };
  },

  adjust(spec) {
    return spec.machine === "microvm" && spec.defaulted?.machine ? { ...spec, machine: "q35" } : spec;
  },

  cmdlineFor(spec, image, accel) {
    // The same guest as QEMU's on that machine type: console, reboot, devices, timer hints.
    return qemuDriver.cmdlineFor({ ...spec, machine: machineType(spec) }, image, accel);
  },

  diskDevice(index) {
    return `vd${String.fromCharCode(97 + index)}`;
  },

  check(spec, image) {
    unsupportedCommon({ ...spec, net: spec.net.kind === "network" ? { kind: "none" } : spec.net }, "libvirt");
    const uri = libvirtUri(spec);
    if (spec.machine === "microvm") {
      throw usageError(
        "KILN_EMACHINE_UNSUPPORTED",
        `Cannot boot image ${q(image.manifest.name)} on machine type "microvm" with libvirt: libvirt has no microvm machine`,
        "Drop --machine (kiln picks q35), or give --machine q35 or pc.",
      );
    }
    if (image.manifest.hypervisor) {
      throw usageError(
        "KILN_EIMAGE_UNSUPPORTED",
        `Cannot run image ${q(image.manifest.name)} as a libvirt domain: it is a ${image.manifest.hypervisor.name} host, which boots on a machine`,
        `Boot it with \`kiln launch qemu ${image.dir}\`, or make a disk of it (kiln image raw-bios).`,
      );
    }
    if (spec.net.kind === "user" && spec.net.forwards.length > 0) {
      const f = spec.net.forwards[0]!;
      throw usageError(
        "KILN_ENET_UNSUPPORTED",
        `Cannot forward port ${q(`${f.host}:${f.guest}`)} with libvirt: its user-mode networking (slirp, libvirt 9.0) has no port forwards`,
        "Attach the domain to a libvirt network or bridge and reach the guest's own address: --net network:NAME,ip=10.0.0.2/24,gw=10.0.0.1 (or launch it with kiln launch qemu -p).",
      );
    }
    if (spec.interactive) {
      throw usageError(
        "KILN_EINTERACTIVE_UNSUPPORTED",
        `Cannot pass this terminal's input to a libvirt domain at ${q(uri)}: kiln follows its console from a file, which only goes one way`,
        "Drop -i, or attach to the domain's console with virsh console (after kiln image libvirt), or launch it with kiln launch qemu -i.",
      );
    }
    if (spec.disks.length > 0 && !isLocalUri(uri)) {
      throw usageError(
        "KILN_EDISK_REMOTE",
        `Cannot attach disk ${q(spec.disks[0]!.file)} to a domain at ${q(uri)}: it is a file on this host, and kiln assumes no file system shared with that one`,
        "Launch without -b on the remote host, or put the disk into a volume there and launch with virsh.",
      );
    }
    return [];
  },

  async plan(ctx: PlanContext): Promise<LaunchPlan> {
    const { spec } = ctx;
    const uri = libvirtUri(spec);
    const domain = domainName(spec.name);
    const id = randomBytes(8).toString("hex");
    const vols = bootVolumes(ctx.image, ctx.initrd, spec.name, id);
    const machine: LibvirtMachine = {
      uri,
      domain,
      mark: { machine: spec.name, id, image: ctx.image.manifest.name },
      uploads: [vols.kernel, vols.initrd],
      kernelVolume: vols.kernel.volume,
      initrdVolume: vols.initrd.volume,
      consoleVolume: `${domain}-${id}.console`,
      domainInput: {
        domain,
        mark: { machine: spec.name, id, image: ctx.image.manifest.name },
        type: ctx.accel === "kvm" ? "kvm" : "qemu",
        machine: machineType(spec),
        memoryMB: spec.memoryMB,
        cpus: spec.cpus,
        cmdline: ctx.cmdline,
        net: spec.net,
        disks: spec.disks.map((d) => ({ path: d.file, ro: d.ro })),
      },
      local: isLocalUri(uri),
    };
    const xml = placedXml(machine, KILN_POOL_TARGET);
    return {
      backend: "libvirt",
      // What a person would run; create() makes the domain and returns the console follower instead.
      command: ["virsh", "-c", uri, "create", join(ctx.dir, DOMAIN_XML)],
      files: [
        { name: DOMAIN_XML, content: xml },
        { name: LIBVIRT_FILE, content: `${JSON.stringify(machine, null, 2)}\n` },
      ],
      warnings: [],
      daemonizes: false,
      detachSelf: true,
    };
  },

  async create(ctx) {
    const m = await readLibvirtMachine(ctx.dir);
    const v = virsh(m.uri);
    const found = await findDomain(v, m.domain);
    if (found.exists) {
      if (!found.mark) throw notOursError(m.uri, m.domain, "exists and was not made by kiln");
      throw new KilnError(
        "KILN_EMACHINE_EXISTS",
        `A machine named ${q(m.mark.machine)} already runs as domain ${q(m.domain)} at ${q(m.uri)}`,
        `Choose another --name, or stop that one: virsh -c ${m.uri} destroy ${m.domain}`,
      );
    }
    const target = await ensurePool(v);
    const present = await volumesPresent(
      v,
      m.uploads.filter((u) => !u.own).map((u) => u.volume),
    );
    for (const u of m.uploads)
      await uploadVolume(v, u.file, u.volume, { replace: u.own, present: present.has(u.volume) });
    await createEmptyVolume(v, m.consoleVolume);
    const placed: LibvirtMachine = { ...m, consolePath: join(target, m.consoleVolume) };
    const xmlFile = join(ctx.dir, DOMAIN_XML);
    await writeFile(xmlFile, placedXml(placed, target));
    await writeFile(join(ctx.dir, LIBVIRT_FILE), `${JSON.stringify(placed, null, 2)}\n`);
    try {
      await v.run(["create", xmlFile], { timeoutMs: 300_000 });
    } catch (e) {
      await deleteVolume(v, m.consoleVolume);
      for (const u of m.uploads) if (u.own) await deleteVolume(v, u.volume);
      const denied = e instanceof KilnError && /Could not open '([^']+)': Permission denied/.exec(e.message);
      if (denied)
        throw new KilnError(
          "KILN_EDISK_DENIED",
          `libvirt's QEMU cannot open disk ${q(denied[1])}: permission denied`,
          "libvirt runs QEMU as its own user (libvirt-qemu on Debian) and gives it the disk file, not the directories above it: make each of them searchable (chmod o+x), or keep disks under /var/lib/libvirt/images.",
        );
      throw e;
    }
    const follow = fileURLToPath(new URL("./libvirtFollow.js", import.meta.url));
    return { command: [process.execPath, follow, join(ctx.dir, LIBVIRT_FILE)] };
  },

  async stop(status, dir, opts) {
    const m = await readLibvirtMachine(dir).catch(() => undefined);
    if (m) {
      const v = virsh(m.uri);
      const found = await findDomain(v, m.domain);
      if (found.exists) {
        if (found.mark?.id !== m.mark.id)
          throw notOursError(
            m.uri,
            m.domain,
            found.mark ? "now belongs to another kiln launch" : "is not the one kiln made",
          );
        await v.try(["destroy", m.domain], { timeoutMs: opts.timeoutMs + 10_000 });
      }
    }
    // The follower sees the domain go, drains the console and deletes the machine's volumes.
    if (await waitGone(() => isOurProcess(status.pid, dir), Math.max(opts.timeoutMs, 5000))) return;
    await terminate(status.pid, dir, 3000);
  },
};

/** The domain XML with its boot files and console in the pool's directory `target` on the host. */
function placedXml(m: LibvirtMachine, target: string): string {
  return domainXml({
    ...m.domainInput,
    kernel: join(target, m.kernelVolume),
    initrd: join(target, m.initrdVolume),
    console: { file: join(target, m.consoleVolume) },
  });
}
