import assert from "node:assert/strict";
import { test } from "node:test";
import { moduleName, parseModulesDep } from "./kernelIndex.js";
import { loadOrder } from "./moduleOrder.js";

// Lines as depmod writes them for Debian's 6.1 cloud kernel.
const dep = parseModulesDep(
  [
    "kernel/drivers/virtio/virtio_ring.ko:",
    "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko",
    "kernel/net/core/failover.ko:",
    "kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko",
    "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
    "",
  ].join("\n"),
);
const modules = Object.fromEntries(
  [...dep].map(([p, deps]) => [moduleName(p), { deps: deps.map(moduleName) }]),
);

test("moduleName reads file names the kernel's way", () => {
  assert.equal(moduleName("kernel/drivers/char/hw_random/virtio-rng.ko"), "virtio_rng");
  assert.equal(moduleName("kernel/fs/isofs/isofs.ko.xz"), "isofs");
  assert.equal(moduleName("xen-blkfront"), "xen_blkfront");
});

test("one module loads in modprobe's order: its modules.dep list back to front, then itself", () => {
  assert.deepEqual(loadOrder(modules, ["virtio_net"]), [
    "virtio_ring",
    "virtio",
    "failover",
    "net_failover",
    "virtio_net",
  ]);
});

test("several modules share dependencies once, each after all it needs", () => {
  const order = loadOrder(modules, ["virtio_rng", "virtio_net", "virtio"]);
  assert.deepEqual(order, ["virtio_ring", "virtio", "virtio_rng", "failover", "net_failover", "virtio_net"]);
  for (const [i, m] of order.entries()) {
    for (const d of modules[m]!.deps) assert.ok(order.indexOf(d) < i, `${d} before ${m}`);
  }
});

test("an unknown module or a cycle (a damaged index) is an error", () => {
  assert.throws(() => loadOrder(modules, ["nope"]), /nope/);
  assert.throws(() => loadOrder({ a: { deps: ["b"] }, b: { deps: ["a"] } }, ["a"]), /cycle/);
});
