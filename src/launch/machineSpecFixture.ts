// Test-only (excluded from dist by tsconfig.build.json): the MachineSpec the driver and runtime-config
// unit tests start from, each overriding what it checks.
import type { MachineSpec } from "./machine.js";

/** An attached, network-less microvm of 256 MB and 2 CPUs booting /img, with `over` on top. */
export function testSpec(over: Partial<MachineSpec> = {}): MachineSpec {
  return {
    image: "/img",
    memoryMB: 256,
    cpus: 2,
    machine: "microvm",
    net: { kind: "none" },
    disks: [],
    shares: [],
    env: {},
    console: "attached",
    interactive: false,
    accel: "auto",
    rm: false,
    ...over,
  };
}

/** testSpec with a machine name, as drivers are given it. */
export function namedTestSpec(name: string, over: Partial<MachineSpec> = {}): MachineSpec & { name: string } {
  return { ...testSpec(over), name: over.name ?? name };
}
