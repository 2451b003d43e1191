/** The drivers by name; without a name, the first available in order of preference (qemu first). */
import { q, usageError } from "../../core/errors.js";
import { BACKENDS, type Backend, type Driver } from "../machine.js";
import { firecrackerDriver } from "./firecracker.js";
import { libvirtDriver } from "./libvirt.js";
import { qemuDriver } from "./qemu.js";
import { xenDriver } from "./xen.js";

export const DRIVERS: Record<Backend, Driver> = {
  qemu: qemuDriver,
  xen: xenDriver,
  firecracker: firecrackerDriver,
  libvirt: libvirtDriver,
};

export function isBackend(name: string): name is Backend {
  return (BACKENDS as readonly string[]).includes(name);
}

export function driverFor(name: string): Driver {
  if (!isBackend(name)) {
    throw usageError(
      "KILN_EBACKEND_UNKNOWN",
      `Cannot launch with backend ${q(name)}: there is no such backend`,
      `Use one of: ${BACKENDS.join(", ")} (kiln launch qemu IMAGE).`,
    );
  }
  return DRIVERS[name];
}

/** The first backend whose probe succeeds; qemu when none does (its launch then says what is missing). */
export async function chooseDriver(): Promise<Driver> {
  for (const name of BACKENDS) {
    const d = DRIVERS[name];
    if ((await d.probe()).available) return d;
  }
  return qemuDriver;
}
