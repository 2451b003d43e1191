import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectionError, isLocalUri, virshQuote } from "./virsh.js";

describe("virsh", () => {
  it("tells this host's URIs from remote ones", () => {
    assert.ok(isLocalUri("qemu:///system"));
    assert.ok(isLocalUri("qemu:///session"));
    assert.ok(isLocalUri("qemu:///system?socket=/tmp/x.sock"));
    assert.ok(!isLocalUri("qemu+ssh://root@127.0.0.1:2222/system"));
    assert.ok(!isLocalUri("qemu://host/system"));
    assert.ok(isLocalUri("qemu+unix:///system"));
    assert.ok(!isLocalUri("qemu+tcp:///system"));
  });

  it("turns virsh's connection failures into KilnErrors quoting the URI (messages as libvirt 9.0 prints them)", () => {
    const noDriver = connectionError(
      "qemu:///system",
      "error: failed to connect to the hypervisor\nerror: no connection driver available for qemu:///system\n",
    );
    assert.equal(noDriver?.code, "KILN_ELIBVIRT_NO_QEMU");
    assert.match(noDriver!.message, /"qemu:\/\/\/system"/);
    const refused = connectionError(
      "qemu+ssh://root@127.0.0.1:1/system",
      "error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: connect to host 127.0.0.1 port 1: Connection refused: Connection reset by peer\n",
    );
    assert.equal(refused?.code, "KILN_ELIBVIRT_UNREACHABLE");
    assert.match(refused!.message, /Connection refused/);
    assert.match(refused!.hint, /ssh/);
    const closed = connectionError(
      "qemu+ssh://root@127.0.0.1:1/system",
      "error: failed to connect to the hypervisor\nerror: internal error: client socket is closed\n",
      "ssh to 127.0.0.1 port 1: connection refused",
    );
    assert.equal(closed?.code, "KILN_ELIBVIRT_UNREACHABLE");
    assert.match(
      closed!.message,
      /client socket is closed \(ssh to 127\.0\.0\.1 port 1: connection refused\)$/,
    );
    assert.equal(connectionError("qemu:///system", "error: failed to get domain 'x'\n"), undefined);
  });

  it("quotes arguments for virsh's own command parser (several commands in one virsh)", () => {
    assert.equal(virshQuote("kiln-web.console"), "kiln-web.console");
    assert.equal(virshQuote("/a b/c"), '"/a b/c"');
    assert.equal(virshQuote('x"; destroy y'), '"x\\"; destroy y"');
    assert.equal(virshQuote("a\\b"), '"a\\\\b"');
  });
});
