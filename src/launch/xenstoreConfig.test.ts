import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BootConfig } from "../manifest/bootConfig.js";
import { XENSTORE_VALUE_MAX, xenstoreConfig } from "./xenstoreConfig.js";

describe("the boot configuration as xenstore keys", () => {
  it("a small document is one value at kiln/config of the guest's home", () => {
    const cfg: BootConfig = { v: 1, env: { A: 'x\\n"y"' } };
    assert.deepEqual(xenstoreConfig(7, cfg), [["/local/domain/7/kiln/config", JSON.stringify(cfg)]]);
  });

  it("a large one is split into parts that join to the document, with the count written last", () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 300; i++) env[`K${i}`] = `välue-${i}-${"é".repeat(i % 7)}`;
    const cfg: BootConfig = { v: 1, env };
    const pairs = xenstoreConfig(12, cfg);
    const [count, ...rev] = [...pairs].reverse();
    const parts = rev.reverse();
    assert.deepEqual(count, ["/local/domain/12/kiln/config", String(parts.length)]);
    assert.ok(parts.length > 1 && parts.length <= 64);
    parts.forEach(([k, v], i) => {
      assert.equal(k, `/local/domain/12/kiln/config/${i}`);
      assert.ok(Buffer.byteLength(v) <= XENSTORE_VALUE_MAX);
    });
    assert.equal(parts.map(([, v]) => v).join(""), JSON.stringify(cfg));
  });
});
