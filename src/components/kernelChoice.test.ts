import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { requestKey } from "./kconfigPlan.js";
import { chooseKernel, kernelNotice } from "./kernelChoice.js";
import { resolvePlatform } from "./resolve.js";

const home = mkdtempSync(join(tmpdir(), "kiln-kernel-choice-"));
const env = { ...process.env, KILN_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

/** A built kernel as `kiln components build` leaves it in KILN_HOME, for a platform's symbol set. */
async function installKernel(platform: string, hash: string, missing: string[] = []): Promise<void> {
  const { kconfig } = await resolvePlatform(platform, { kernel: "specialized", env });
  const root = join(home, "components", "specialized");
  mkdirSync(join(root, hash), { recursive: true });
  mkdirSync(join(root, "requests"), { recursive: true });
  const bz = Buffer.alloc(1536 * 1024, 1);
  writeFileSync(join(root, hash, "bzImage"), bz);
  writeFileSync(
    join(root, hash, "info.json"),
    JSON.stringify({
      release: "6.1.192",
      configHash: hash,
      sourcePackage: "linux-source-6.1",
      sourceVersion: "6.1.192-3",
      symbolsMissing: missing,
      missingReasons: {},
      bzImage: { sha256: "0".repeat(64), size: bz.length },
    }),
  );
  writeFileSync(join(root, "requests", `${requestKey(kconfig)}.json`), JSON.stringify({ configHash: hash }));
}

describe("chooseKernel", () => {
  it("keeps the stock kernel while none is built, and says a build would help", async () => {
    const c = await chooseKernel({ platform: "qemu", env });
    assert.deepEqual([c.kind, c.chosen, c.couldSpecialize], ["stock", "default", true]);
    assert.equal(kernelNotice(c), undefined);
  });

  it("takes a specialized kernel built for exactly the platform's set, and says so", async () => {
    const hash = "a".repeat(64);
    await installKernel("qemu", hash);
    const c = await chooseKernel({ platform: "qemu", env });
    assert.deepEqual([c.kind, c.chosen, c.configHash], ["specialized", "default", hash]);
    assert.match(
      kernelNotice(c) ?? "",
      /specialized kernel aaaaaaaaaaaa, built for qemu \(1\.50 MB\); --kernel stock/,
    );
    // Another component set asks for other symbols: that kernel is not the one it needs.
    const more = await chooseKernel({ platform: "qemu", components: ["virtio.vsock"], env });
    assert.equal(more.kind, "stock");
    // --kernel wins either way.
    const given = await chooseKernel({ platform: "qemu", requested: "stock", env });
    assert.deepEqual([given.kind, given.chosen], ["stock", "given"]);
    assert.equal(kernelNotice(given), undefined);
  });

  it("keeps stock where the built kernel lacks a symbol, or the platform needs Debian's own kernel", async () => {
    await installKernel("firecracker", "b".repeat(64), ["VIRTIO_MMIO_CMDLINE_DEVICES"]);
    const lacking = await chooseKernel({ platform: "firecracker", env });
    assert.equal(lacking.kind, "stock");
    assert.match(lacking.reason, /lacks VIRTIO_MMIO_CMDLINE_DEVICES/);
    await installKernel("xen-host", "c".repeat(64));
    const host = await chooseKernel({ platform: "xen-host", env });
    assert.equal(host.kind, "stock");
    assert.match(host.reason, /generic kernel/);
  });
});
