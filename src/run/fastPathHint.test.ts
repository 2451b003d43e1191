import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { KernelChoice } from "../components/kernelChoice.js";
import { markFastPathHintShown, pendingFastPathHint } from "./fastPathHint.js";

const home = mkdtempSync(join(tmpdir(), "kiln-hint-"));
const env = { ...process.env, KILN_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

const stock: KernelChoice = { kind: "stock", chosen: "default", reason: "none built", couldSpecialize: true };

describe("the fast path hint", () => {
  it("is given once per KILN_HOME, only when a built specialized kernel would have been used", async () => {
    assert.equal(await pendingFastPathHint({ ...stock, chosen: "given" }, "qemu", env), undefined);
    assert.equal(await pendingFastPathHint({ ...stock, couldSpecialize: false }, "xen-host", env), undefined);
    assert.match((await pendingFastPathHint(stock, "qemu", env)) ?? "", /`kiln components build qemu`/);
    // Not shown yet: still pending.
    assert.ok(await pendingFastPathHint(stock, "qemu", env));
    await markFastPathHintShown(env);
    assert.ok(existsSync(join(home, "notices", "fast-path-hint")));
    assert.equal(await pendingFastPathHint(stock, "qemu", env), undefined);
  });
});
