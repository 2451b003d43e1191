import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import type { KilnError } from "../../core/errors.js";
import type { Image } from "../../manifest/imageManifest.js";
import type { MachineSpec } from "../machine.js";
import { namedTestSpec } from "../machineSpecFixture.js";
import { firecrackerConfig, firecrackerDriver } from "./firecracker.js";

const schema = JSON.parse(
  readFileSync(new URL("../../../test/fixtures/launch/firecracker-schema.json", import.meta.url), "utf8"),
);
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const spec = (over: Partial<MachineSpec> = {}) => namedTestSpec("fc", { ...over });
// "pvh": a bzImage whose payload has a PVH entry (the launcher found the ELF); "bzimage": one without.
const image = (format: "bzimage" | "pvh") =>
  ({
    dir: "/img",
    kernel: "/img/kernel",
    initrd: "/img/initrd",
    ...(format === "pvh" ? { direct: "/cache/kernels/k.elf" } : {}),
    manifest: { name: "web", kernel: { format: "bzimage", kind: "specialized" } },
  }) as unknown as Image;

describe("firecracker configuration", () => {
  it("follows Firecracker's API schema, with disks and a tap NIC", () => {
    const cfg = firecrackerConfig({
      spec: spec({
        disks: [
          { file: "/d/a.img", ro: true },
          { file: "/d/b.img", ro: false, mount: "/b" },
        ],
        net: { kind: "tap", ifname: "tap0", mac: "06:00:ac:10:00:02" },
      }),
      kernel: "/img/vmlinux",
      initrd: "/img/initrd",
      cmdline: "console=ttyS0 reboot=k",
    });
    assert.ok(validate(cfg), JSON.stringify(validate.errors));
    assert.equal(cfg["machine-config"].vcpu_count, 2);
    assert.equal(cfg["machine-config"].mem_size_mib, 256);
    assert.deepEqual(
      cfg.drives.map((d) => [d.drive_id, d.path_on_host, d.is_read_only, d.is_root_device]),
      [
        ["d0", "/d/a.img", true, false],
        ["d1", "/d/b.img", false, false],
      ],
    );
    assert.deepEqual(cfg["network-interfaces"], [
      { iface_id: "eth0", host_dev_name: "tap0", guest_mac: "06:00:ac:10:00:02" },
    ]);
  });

  it("the schema check itself rejects a wrong field name and a wrong type", () => {
    const good = firecrackerConfig({ spec: spec(), kernel: "/k", initrd: "/i", cmdline: "" });
    assert.ok(validate(good));
    assert.ok(!validate({ ...good, "machine-config": { vcpu_count: "1", mem_size_mib: 128 } }));
    assert.ok(!validate({ ...good, "boot-source": { kernel_path: "/k" } }));
  });

  it("refuses a kernel without a PVH ELF for a real launch and warns in a dry run; refuses user networking", () => {
    assert.throws(
      () => firecrackerDriver.check(spec(), image("bzimage"), false),
      (e: KilnError) => e.code === "KILN_EKERNEL_FORMAT" && /ELF kernel/.test(e.hint),
    );
    const warnings = firecrackerDriver.check(spec(), image("bzimage"), true);
    assert.match(warnings.join("\n"), /KILN_EKERNEL_FORMAT/);
    assert.deepEqual(firecrackerDriver.check(spec(), image("pvh"), false), []);
    assert.throws(
      () => firecrackerDriver.check(spec({ net: { kind: "user", forwards: [] } }), image("pvh"), true),
      (e: KilnError) => e.code === "KILN_ENET_UNSUPPORTED",
    );
    assert.throws(
      () => firecrackerDriver.check(spec({ console: "detached" }), image("pvh"), true),
      (e: KilnError) => e.code === "KILN_EDETACH_UNSUPPORTED",
    );
  });
});
