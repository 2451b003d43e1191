import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bootConfigProblem } from "./bootConfig.js";

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

// biome-ignore lint/suspicious/noTemplateCurlyInString: kiln-init's own substitution, not a template
const XEN_TARGET = "${xen_target}";

// A Linux stub domain's rc, as guest/README.md shows it: the QMP proxy to dom0, then QEMU with libxl's
// arguments after its own.
const stubdom = {
  v: 1,
  rc: [
    {
      bin: "/usr/lib/xen-4.17/bin/vchan-socket-proxy",
      argv: ["vchan-socket-proxy", "--mode=server", "0", `device-model/${XEN_TARGET}/qmp-vchan`, "/run/qmp"],
      mode: "bg",
    },
    {
      bin: "/usr/libexec/xen-qemu-system-i386",
      argv: ["qemu-system-i386", "-qmp", "unix:/run/qmp,server=on,wait=off"],
      argv_xen_dm: true,
    },
  ],
};

describe("boot configuration schema", () => {
  it(`takes a stub domain's device model entry and ${XEN_TARGET} (a guest-side substitution)`, () => {
    assert.equal(bootConfigProblem(stubdom), undefined);
    assert.deepEqual(bootConfigProblem({ v: 1, rc: [{ bin: "/q", argv_xen_dm: "yes" }] }), {
      path: "rc[0].argv_xen_dm",
      message: "must be a boolean, not a string",
    });
    const second = { ...stubdom, rc: stubdom.rc.map((e) => ({ ...e, argv_xen_dm: true })) };
    assert.deepEqual(bootConfigProblem(second), {
      path: "rc[1].argv_xen_dm",
      message: 'a second device model (rc[0] has "argv_xen_dm": true): libxl starts one',
    });
  });

  it("takes setup programs, a bg program's ready path and timeout, and pseudo file systems", () => {
    assert.equal(bootConfigProblem(dom0), undefined);
  });

  it("refuses what kiln-init refuses: another mode, a relative ready path, a timeout out of range", () => {
    const rc = (entry: object) =>
      bootConfigProblem({ v: 1, rc: [{ bin: "/x", mode: "bg", ...entry }] }) === undefined;
    assert.equal(rc({ mode: "fg" }), false);
    assert.equal(rc({ ready: "run/x.sock" }), false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 0 }), false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 3_600_001 }), false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 1.5 }), false);
    assert.equal(rc({ ready: "/r", ready_timeout_ms: 3_600_000 }), true);
    assert.deepEqual(bootConfigProblem({ v: 1, rc: [{ bin: "/x", mode: "setup", ready: "/r" }] }), {
      path: "rc[0].ready",
      message: 'is for "bg" programs only (a setup program is awaited until it exits; main starts last)',
    });
  });
});
