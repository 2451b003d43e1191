import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KilnError } from "../../core/errors.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { MachineSpec } from "../machine.js";
import { namedTestSpec } from "../machineSpecFixture.js";
import { bootVolumes, libvirtDriver } from "./libvirt.js";

const spec = (over: Partial<MachineSpec> = {}) => namedTestSpec("web", { machine: "q35", ...over });
const image = {
  dir: "/img",
  kernel: "/img/kernel",
  initrd: "/img/initrd",
  direct: "/cache/kernels/k.elf",
  manifest: {
    name: "web",
    cmdline: "quiet",
    kernel: { format: "bzimage", kind: "stock", sha256: "a".repeat(64) },
    initrd: { sha256: "b".repeat(64) },
    components: [],
  },
} as unknown as Image;
const code = (c: string) => (e: KilnError) => e.code === c;

describe("libvirt driver", () => {
  it("takes q35 for a machine type left to kiln, and refuses microvm asked for", () => {
    const left = libvirtDriver.adjust!(namedTestSpec("web", { defaulted: { machine: true } }));
    assert.equal(left.machine, "q35");
    assert.throws(
      () => libvirtDriver.check(namedTestSpec("web"), image, true),
      code("KILN_EMACHINE_UNSUPPORTED"),
    );
  });

  it("refuses what libvirt 9.0 or a remote host cannot give: forwards, gdb, shares, a local disk far away", () => {
    const fwd = { kind: "user" as const, forwards: [{ proto: "tcp" as const, host: 8080, guest: 80 }] };
    assert.throws(() => libvirtDriver.check(spec({ net: fwd }), image, true), code("KILN_ENET_UNSUPPORTED"));
    assert.throws(
      () => libvirtDriver.check(spec({ gdbPort: 1234 }), image, true),
      code("KILN_EGDB_UNSUPPORTED"),
    );
    assert.throws(
      () => libvirtDriver.check(spec({ shares: [{ host: "/d", mount: "/d", ro: true }] }), image, true),
      code("KILN_ESHARE_UNSUPPORTED"),
    );
    const disk = { disks: [{ file: "/d.img", ro: false }] };
    assert.deepEqual(libvirtDriver.check(spec(disk), image, true), []);
    assert.throws(
      () => libvirtDriver.check(spec({ ...disk, connect: "qemu+ssh://root@h/system" }), image, true),
      code("KILN_EDISK_REMOTE"),
    );
    assert.deepEqual(
      libvirtDriver.check(spec({ net: { kind: "network", network: "default" } }), image, true),
      [],
    );
  });

  it("gives the guest QEMU's command line for the same machine type", () => {
    const parts = libvirtDriver.cmdlineFor(spec({ net: { kind: "network", network: "n" } }), image, "tcg");
    assert.ok(parts.override.includes("console=ttyS0"));
    assert.ok(parts.override.includes("kiln.dev=net"));
    assert.ok(parts.ifAbsent.some((p) => p.startsWith("tsc_early_khz=")));
  });

  it("names baked parts by digest (shared by launches) and a launch's own initrd by machine", () => {
    const shared = bootVolumes(image, "/img/initrd", "web", "1234");
    assert.equal(shared.kernel.volume, `kernel-${"a".repeat(64)}.pvh.elf`);
    assert.equal(shared.initrd.volume, `initrd-${"b".repeat(64)}`);
    assert.equal(shared.initrd.own, false);
    const own = bootVolumes(image, "/machines/web/initrd", "web", "1234");
    assert.deepEqual([own.initrd.volume, own.initrd.own], ["kiln-web-1234.initrd", true]);
  });
});
