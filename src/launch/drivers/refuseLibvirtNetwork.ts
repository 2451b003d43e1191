import { q, usageError } from "../../core/errors.js";
import type { MachineSpec } from "../machine.js";

/** A libvirt network exists only for libvirt's domains. */
export function refuseLibvirtNetwork(spec: MachineSpec, what: string): void {
  if (spec.net.kind === "network") {
    throw usageError(
      "KILN_ENET_UNSUPPORTED",
      `Cannot attach a ${what} machine to libvirt network ${q(spec.net.network)}: only libvirt's domains join its networks`,
      "Launch it with libvirt (kiln launch libvirt --net network:NAME IMAGE), or name the network's bridge: --net bridge:NAME.",
    );
  }
}
