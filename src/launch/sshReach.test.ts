import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { sshEndpoint, tcpFailure } from "./sshReach.js";

describe("sshReach", () => {
  it("reads the ssh host and port of a libvirt URI, 22 when none is given", () => {
    assert.deepEqual(sshEndpoint("qemu+ssh://root@127.0.0.1:2222/system?keyfile=/k"), {
      host: "127.0.0.1",
      port: 2222,
    });
    assert.deepEqual(sshEndpoint("qemu+ssh://host.example/system"), { host: "host.example", port: 22 });
    assert.deepEqual(sshEndpoint("qemu+libssh2://u@[::1]:23/system"), { host: "::1", port: 23 });
    assert.equal(sshEndpoint("qemu:///system"), undefined);
    assert.equal(sshEndpoint("qemu+tcp://host/system"), undefined);
    assert.equal(sshEndpoint("qemu+ssh://host:99999/system"), undefined);
  });

  it("says why a TCP connection fails, and nothing when it is made", async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    try {
      assert.equal(await tcpFailure("127.0.0.1", port), undefined);
    } finally {
      await new Promise((r) => server.close(r));
    }
    // Port 1 on loopback: nothing listens there on these machines, and nothing in the suite binds it.
    assert.equal(await tcpFailure("127.0.0.1", 1), "connection refused");
  });
});
