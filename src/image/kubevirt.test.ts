import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { type KubevirtInput, k8sName, kubevirtManifest } from "./kubevirt.js";

const schema = JSON.parse(
  readFileSync(new URL("../../test/fixtures/kubevirt/schema.json", import.meta.url), "utf8"),
);
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const pinned = `registry.example.com/vms/web:1@sha256:${"a".repeat(64)}`;
const input = {
  name: "web",
  boot: { kernel: pinned, kernelArgs: "console=ttyS0 kiln.config=e30" } as KubevirtInput["boot"],
  memoryMiB: 144,
  ports: [80, 8080],
  image: "web",
};

// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest is walked by field name
type Item = { kind: string; spec: Record<string, any>; metadata: { name: string } };

describe("kubevirt manifest", () => {
  it("follows KubeVirt's and Kubernetes' API schema: a VM and a Service for its ports", () => {
    const m = kubevirtManifest(input) as { items: Item[] };
    assert.ok(validate(m), JSON.stringify(validate.errors, null, 2));
    assert.deepEqual(
      m.items.map((i) => i.kind),
      ["VirtualMachine", "Service"],
    );
    const vmi = m.items[0]!.spec.template.spec;
    // What the API does not check but KubeVirt needs: every interface has its network.
    assert.deepEqual(
      vmi.domain.devices.interfaces.map((d: { name: string }) => d.name),
      vmi.networks.map((v: { name: string }) => v.name),
    );
    const kb = vmi.domain.firmware.kernelBoot;
    assert.equal(kb.container.image, pinned);
    assert.deepEqual([kb.container.kernelPath, kb.container.initrdPath], ["/boot/kernel", "/boot/initrd"]);
    assert.equal(kb.kernelArgs, "console=ttyS0 kiln.config=e30");
    assert.equal(vmi.volumes, undefined);
    assert.equal(vmi.domain.resources.requests.memory, "144Mi");
    // The Service selects the VM's pods (virt-launcher carries the template's labels).
    const svc = m.items[1]!;
    for (const [k, v] of Object.entries(svc.spec.selector))
      assert.equal(m.items[0]!.spec.template.metadata.labels[k], v);
    assert.deepEqual(
      svc.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]),
      [
        [80, 80],
        [8080, 8080],
      ],
    );
    assert.equal(m.items[0]!.spec.runStrategy, "Always");
  });

  it("--boot disk: the containerDisk as a volume, every disk with its volume", () => {
    const m = kubevirtManifest({ ...input, boot: { disk: pinned } }) as { items: Item[] };
    assert.ok(validate(m), JSON.stringify(validate.errors, null, 2));
    const vmi = m.items[0]!.spec.template.spec;
    assert.equal(vmi.domain.firmware, undefined);
    assert.deepEqual(
      vmi.domain.devices.disks.map((d: { name: string }) => d.name),
      vmi.volumes.map((v: { name: string }) => v.name),
    );
    assert.equal(vmi.volumes[0].containerDisk.image, pinned);
  });

  it("without ports: no Service, and a program that ends leaves the VM off", () => {
    const m = kubevirtManifest({ ...input, ports: [] }) as { items: Item[] };
    assert.ok(validate(m), JSON.stringify(validate.errors));
    assert.equal(m.items.length, 1);
    assert.equal(m.items[0]!.spec.runStrategy, "RerunOnFailure");
  });

  it("the schema check itself refuses a misspelt field, a bad quantity and both running and runStrategy", () => {
    const m = () => kubevirtManifest(input) as { items: Item[] };
    const a = m();
    a.items[0]!.spec.template.spec.domain.devices.autoAttachSerialConsole = true;
    assert.ok(!validate(a));
    const b = m();
    b.items[0]!.spec.template.spec.domain.resources.requests.memory = "144 MB";
    assert.ok(!validate(b));
    const b2 = m();
    b2.items[0]!.spec.template.spec.domain.firmware.kernelBoot.container.kernelpath = "/boot/kernel";
    assert.ok(!validate(b2));
    const c = m();
    c.items[0]!.spec.running = true;
    assert.ok(!validate(c));
  });

  it("makes Kubernetes names of image names", () => {
    assert.equal(k8sName("Hello_World.v2"), "hello-world-v2");
    assert.throws(() => k8sName("___"), /KILN|Kubernetes/);
  });
});
