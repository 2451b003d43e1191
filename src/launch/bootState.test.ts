import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Image } from "../manifest/imageManifest.js";
import { bootParameters, coldReason, stateKey } from "./bootState.js";
import type { MachineSpec } from "./machine.js";
import { namedTestSpec } from "./machineSpecFixture.js";

const image = (over: Record<string, unknown> = {}, initrd = "aa") =>
  ({
    dir: "/img",
    kernel: "/img/kernel",
    initrd: "/img/initrd",
    manifest: {
      name: "web",
      acpi: true,
      holds: true,
      kernel: { kind: "stock", sha256: "k1" },
      initrd: { sha256: initrd },
      components: [],
      ...over,
    },
  }) as unknown as Image;
const spec = (over: Partial<MachineSpec> = {}) => namedTestSpec("m1", over);
const userNet = (port: number): MachineSpec["net"] => ({
  kind: "user",
  forwards: [{ proto: "tcp", host: port, guest: 8080 }],
});

describe("saved boot states", () => {
  it("serve a microvm with user networking at most; everything a state cannot hold boots cold", () => {
    const qemu = { backend: "qemu" };
    assert.equal(coldReason(spec({ net: userNet(8080) }), image(), qemu), undefined);
    const cold: [Partial<MachineSpec>, Image, object, RegExp][] = [
      [{ cold: true }, image(), qemu, /--cold/],
      [{}, image(), { backend: "firecracker" }, /firecracker/],
      [{}, image(), { ...qemu, timeline: true }, /--timeline/],
      [{}, image({ holds: undefined }), qemu, /baked before/],
      [{ machine: "q35" }, image(), qemu, /q35/],
      [{ disks: [{ file: "/d.img", ro: false }] }, image(), qemu, /disk/],
      [{ shares: [{ host: "/s" }] } as unknown as Partial<MachineSpec>, image(), qemu, /share/],
      [{ gdbPort: 1234 }, image(), qemu, /gdb/],
      [{ firewall: "/f.nft" }, image(), qemu, /firewall/],
      [{ net: { kind: "tap", ifname: "tap0" } } as Partial<MachineSpec>, image(), qemu, /network/],
    ];
    for (const [over, img, opts, why] of cold)
      assert.match(coldReason(spec(over), img, opts as { backend: string }) ?? "", why, JSON.stringify(over));
  });

  it("are named by what the restoring QEMU must match, not by where port forwards listen", async () => {
    const key = (s: MachineSpec, img = image()) =>
      stateKey({
        spec: { ...s, name: "x" },
        image: img,
        accel: "tcg",
        base: "console=ttyS0",
        env: { KILN_QEMU: "/bin/true" },
      });
    const a = await key(spec({ net: userNet(8080) }));
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.equal(await key(spec({ net: userNet(9090), name: "other" })), a, "another port and name");
    assert.notEqual(await key(spec({ net: userNet(8080), memoryMB: 512 })), a, "more memory");
    assert.notEqual(await key(spec({ net: userNet(8080) }), image({}, "bb")), a, "another initrd");
    assert.notEqual(await key(spec({ net: { kind: "none" } })), a, "no NIC");
  });

  it("hand a restored guest a seed, the clock and its configuration as kiln.* words", () => {
    const seed = Buffer.alloc(32, 0xab);
    assert.equal(
      bootParameters({ v: 1, env: { A: "1" } } as never, 1796688000123, seed),
      `kiln.seed=${"ab".repeat(32)} kiln.time=1796688000.123000000 kiln.config=${Buffer.from('{"v":1,"env":{"A":"1"}}').toString("base64url")}`,
    );
    assert.equal(bootParameters(undefined, 5, seed), `kiln.seed=${"ab".repeat(32)} kiln.time=0.005000000`);
    assert.notEqual(bootParameters(undefined).split(" ")[0], bootParameters(undefined).split(" ")[0]);
  });
});
