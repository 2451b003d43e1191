import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BootConfig } from "./bootConfig.js";

// A Xen host's rc and mounts, as kiln-init runs them: setup programs to completion, xenstored awaited
// through its socket, the pseudo file system Xen's tools need.
const dom0 = {
  v: 1,
  rc: [
    { bin: "/sbin/modprobe-all", mode: "setup" },
    {
      bin: "/usr/sbin/xenstored",
      argv: ["xenstored", "--no-fork"],
      mode: "bg",
      ready: "/run/xenstored/socket",
      ready_timeout_ms: 60000,
    },
    { bin: "/usr/lib/xen/bin/xen-init-dom0", mode: "setup" },
    { bin: "/bin/sh" },
  ],
  blk: [{ dev: "xenfs", fs: "xenfs", mount: "/proc/xen" }],
};

describe("boot configuration schema", () => {
  it("takes setup programs, a bg program's ready path and timeout, and pseudo file systems", () => {
    const r = BootConfig.safeParse(dom0);
    assert.ok(r.success, JSON.stringify(r.error?.issues));
    assert.deepEqual(r.data, dom0);
  });

  it("refuses what kiln-init refuses: another mode, a relative ready path, a timeout out of range", () => {
    const rc = (entry: object) => BootConfig.safeParse({ v: 1, rc: [{ bin: "/x", mode: "bg", ...entry }] });
    assert.equal(rc({ mode: "fg" }).success, false);
    assert.equal(rc({ ready: "run/x.sock" }).success, false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 0 }).success, false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 3_600_001 }).success, false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 1.5 }).success, false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 3_600_000 }).success, true);
  });
});
