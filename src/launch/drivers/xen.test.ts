import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KilnError } from "../../core/errors.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { MachineSpec } from "../machine.js";
import { namedTestSpec } from "../machineSpecFixture.js";
import { xenDriver, xlConfig } from "./xen.js";

const spec = (over: Partial<MachineSpec> = {}) => namedTestSpec("x1", { memoryMB: 192, ...over });

describe("xl configuration", () => {
  it("writes a PVH domain with direct kernel boot, vif on a bridge and raw disks with target last", () => {
    const text = xlConfig({
      spec: spec({
        net: { kind: "bridge", bridge: "xenbr0", mac: "00:16:3e:00:00:01" },
        disks: [
          { file: "/d/a,b.img", ro: false },
          { file: "/d/c.img", ro: true },
        ],
      }),
      kernel: "/img/kernel",
      initrd: "/img/initrd",
      cmdline: 'quiet console=hvc0 x="y"',
      imageName: "web",
    });
    const kv = Object.fromEntries(
      text
        .split("\n")
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split(" = ", 2) as [string, string]),
    );
    assert.equal(kv.type, '"pvh"');
    assert.equal(kv.name, '"kiln-x1"');
    assert.equal(kv.kernel, '"/img/kernel"');
    assert.equal(kv.ramdisk, '"/img/initrd"');
    assert.equal(kv.cmdline, '"quiet console=hvc0 x=\\"y\\""');
    assert.equal(kv.memory, "192");
    assert.equal(kv.vcpus, "2");
    assert.equal(kv.on_reboot, '"destroy"');
    assert.equal(kv.vif, '[ "bridge=xenbr0,mac=00:16:3e:00:00:01" ]');
    assert.equal(
      kv.disk,
      '[ "format=raw, vdev=xvda, access=rw, target=/d/a,b.img", "format=raw, vdev=xvdb, access=ro, target=/d/c.img" ]',
    );
  });

  it("refuses what Xen has no equivalent for", () => {
    const img = {} as Image;
    for (const [over, code] of [
      [{ net: { kind: "user", forwards: [] } }, "KILN_ENET_UNSUPPORTED"],
      [{ net: { kind: "tap", ifname: "tap0" } }, "KILN_ENET_UNSUPPORTED"],
      [{ gdbPort: 1234 }, "KILN_EGDB_UNSUPPORTED"],
      [{ shares: [{ host: "/h", mount: "/m", ro: false }] }, "KILN_ESHARE_UNSUPPORTED"],
    ] as [Partial<MachineSpec>, string][]) {
      assert.throws(
        () => xenDriver.check(spec(over), img, true),
        (e: KilnError) => e.code === code,
      );
    }
    assert.equal(xenDriver.diskDevice(1), "xvdb");
  });
});
