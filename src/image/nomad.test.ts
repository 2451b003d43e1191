import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv } from "ajv";
import { blobUrl, nomadJob } from "./nomad.js";

const schema = JSON.parse(
  readFileSync(new URL("../../test/fixtures/nomad/schema.json", import.meta.url), "utf8"),
);
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const layer = `sha256:${"b".repeat(64)}`;
const input = {
  name: "web",
  source: "https://r.example/v2/vms/web/blobs/x",
  layerDigest: layer,
  memoryMiB: 144,
  ports: [8080],
};

// biome-ignore lint/suspicious/noExplicitAny: a parsed job is walked by field name
type Job = { Job: any };

describe("nomad job", () => {
  it("follows Nomad's job API and the qemu driver's task configuration", () => {
    const j = nomadJob(input) as Job;
    assert.ok(validate(j), JSON.stringify(validate.errors, null, 2));
    const task = j.Job.TaskGroups[0].Tasks[0];
    assert.equal(task.Driver, "qemu");
    // The qemu driver refuses less than 128 MB ("Qemu memory assignment out of bounds").
    assert.ok(task.Resources.MemoryMB >= 128);
    // port_map names ports the task's network has (the driver: "Unknown port label").
    const labels = task.Resources.Networks[0].DynamicPorts.map((p: { Label: string }) => p.Label);
    assert.deepEqual(Object.keys(task.Config.port_map), labels);
    assert.deepEqual(Object.values(task.Config.port_map), [8080]);
    // go-getter unpacks the layer into local/, where image_path looks.
    const a = task.Artifacts[0];
    assert.deepEqual(a.GetterOptions, { checksum: layer, archive: "tar.gz" });
    assert.ok(task.Config.image_path.startsWith(a.RelativeDest));
    assert.equal(j.Job.Type, "service");
  });

  it("a job without ports is a batch job with no network", () => {
    const j = nomadJob({ ...input, ports: [] }) as Job;
    assert.ok(validate(j), JSON.stringify(validate.errors));
    assert.equal(j.Job.Type, "batch");
    assert.equal(j.Job.TaskGroups[0].Tasks[0].Resources.Networks, undefined);
  });

  it("the schema check itself refuses a wrong driver option and a lower-case API field", () => {
    const a = nomadJob(input) as Job;
    a.Job.TaskGroups[0].Tasks[0].Config.image = "disk.img";
    assert.ok(!validate(a));
    const b = nomadJob(input) as Job;
    b.Job.TaskGroups[0].Tasks[0].Artifacts[0].source = "x";
    assert.ok(!validate(b));
  });

  it("fetches the layer from the registry's blob endpoint (plain http for a loopback registry)", () => {
    const ref = { registry: "127.0.0.1:5000", repository: "kiln/web", tag: "1" };
    assert.equal(blobUrl({ ref, layerDigest: layer }), `http://127.0.0.1:5000/v2/kiln/web/blobs/${layer}`);
    assert.equal(
      blobUrl({ ref: { registry: "docker.io", repository: "library/web" }, layerDigest: layer }),
      `https://registry-1.docker.io/v2/library/web/blobs/${layer}`,
    );
  });
});
