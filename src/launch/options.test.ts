import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KilnError } from "../core/errors.js";
import {
  launchableSpec,
  parseCpus,
  parseDisk,
  parseEnv,
  parseMemory,
  parseNet,
  parsePublish,
  parseShare,
  specFromOptions,
} from "./options.js";

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KilnError, String(e));
    return `${e.code}/${e.kind}`;
  }
  return "no error";
}

describe("launch options", () => {
  it("parses memory in MB or GB and refuses 0 and junk as usage errors", () => {
    assert.equal(parseMemory("256"), 256);
    assert.equal(parseMemory("512M"), 512);
    assert.equal(parseMemory("1G"), 1024);
    assert.equal(parseMemory("2GiB"), 2048);
    assert.equal(
      code(() => parseMemory("0")),
      "KILN_EBAD_MEMORY/usage",
    );
    assert.equal(
      code(() => parseMemory("-5")),
      "KILN_EBAD_MEMORY/usage",
    );
    assert.equal(
      code(() => parseMemory("lots")),
      "KILN_EBAD_MEMORY/usage",
    );
    assert.equal(
      code(() => parseCpus("0")),
      "KILN_EBAD_CPUS/usage",
    );
    assert.equal(parseCpus("4"), 4);
  });

  it("parses port forwards with protocol and host address; loopback unless an address is given", () => {
    const lo = "127.0.0.1";
    assert.deepEqual(parsePublish("8080:80"), { proto: "tcp", host: 8080, guest: 80, hostAddr: lo });
    assert.deepEqual(parsePublish("5353:53/udp"), { proto: "udp", host: 5353, guest: 53, hostAddr: lo });
    assert.deepEqual(parsePublish("0.0.0.0:8080:80/tcp"), {
      proto: "tcp",
      host: 8080,
      guest: 80,
      hostAddr: "0.0.0.0",
    });
    assert.equal(
      code(() => parsePublish("80")),
      "KILN_EBAD_PORT/usage",
    );
    assert.equal(
      code(() => parsePublish("70000:80")),
      "KILN_EBAD_PORT/usage",
    );
    assert.equal(
      code(() => parsePublish("8080:0")),
      "KILN_EBAD_PORT/usage",
    );
    assert.equal(
      code(() => parsePublish("localhost:8080:80")),
      "KILN_EBAD_PORT/usage",
    );
  });

  it("parses env, disks, shares and networks", () => {
    assert.deepEqual(parseEnv("A=b=c"), ["A", "b=c"]);
    assert.deepEqual(parseEnv("EMPTY="), ["EMPTY", ""]);
    assert.equal(
      code(() => parseEnv("NOVALUE")),
      "KILN_EBAD_ENV/usage",
    );
    assert.equal(
      code(() => parseEnv("1X=y")),
      "KILN_EBAD_ENV/usage",
    );
    assert.deepEqual(parseDisk("d.img,/data,ro,fs=xfs", "/w"), {
      file: "/w/d.img",
      mount: "/data",
      ro: true,
      fs: "xfs",
    });
    assert.deepEqual(parseDisk("/abs/d.img", "/w"), { file: "/abs/d.img", ro: false });
    assert.equal(
      code(() => parseDisk("d.img,data")),
      "KILN_EBAD_DISK/usage",
    );
    assert.deepEqual(parseShare("./site:/srv:ro", "/w"), { host: "/w/site", mount: "/srv", ro: true });
    assert.deepEqual(parseNet("tap:tap0,ip=10.0.0.2/24,gw=10.0.0.1"), {
      kind: "tap",
      ifname: "tap0",
      addr: "10.0.0.2/24",
      gw: "10.0.0.1",
    });
    assert.deepEqual(parseNet("bridge:br0,mac=52:54:00:12:34:56"), {
      kind: "bridge",
      bridge: "br0",
      mac: "52:54:00:12:34:56",
    });
    assert.equal(
      code(() => parseNet("tap:")),
      "KILN_EBAD_NET/usage",
    );
    assert.equal(
      code(() => parseNet("tap:t0,ip=10.0.0.2")),
      "KILN_EBAD_NET/usage",
    );
    assert.equal(
      code(() => parseNet("vde:x")),
      "KILN_EBAD_NET/usage",
    );
  });

  it("parses VM-to-VM socket links and per-interface settings", () => {
    assert.deepEqual(parseNet("socket:listen=127.0.0.1:9000,ip=10.1.0.1/24,mtu=1400"), {
      kind: "socket",
      link: { mode: "listen", addr: "127.0.0.1:9000" },
      addr: "10.1.0.1/24",
      mtu: 1400,
    });
    assert.deepEqual(parseNet("socket:mcast=230.0.0.1:9001,local=127.0.0.1,ip=dhcp"), {
      kind: "socket",
      link: { mode: "mcast", addr: "230.0.0.1:9001", local: "127.0.0.1" },
      addr: "dhcp",
    });
    assert.deepEqual(parseNet("tap:tap0,ip=none"), { kind: "tap", ifname: "tap0", addr: "none" });
    for (const bad of [
      "socket:listen=9000",
      "socket:bind=127.0.0.1:9000",
      "socket:connect=127.0.0.1:9000,local=127.0.0.1",
      "socket:connect=127.0.0.1:9000,mtu=20",
      "tap:tap0,ip=dhcp,gw=10.0.0.1",
      "tap:tap0,gw=10.0.0.1",
    ])
      assert.equal(
        code(() => parseNet(bad)),
        "KILN_EBAD_NET/usage",
        bad,
      );
    assert.equal(
      code(() => parseNet("socket:connect=127.0.0.1:70000")),
      "KILN_EBAD_PORT/usage",
    );
  });

  it("attaches several NICs in the order given; -p goes to the user-mode one", () => {
    const s = specFromOptions(
      "img",
      undefined,
      { net: ["socket:connect=127.0.0.1:9000", "user"], publish: ["8080:80"] },
      {},
    );
    assert.equal(s.net.kind, "socket");
    assert.equal(s.moreNets?.length, 1);
    assert.deepEqual(s.moreNets?.[0], {
      kind: "user",
      forwards: [{ proto: "tcp", host: 8080, guest: 80, hostAddr: "127.0.0.1" }],
    });
    assert.equal(
      code(() => specFromOptions("i", undefined, { net: ["none", "user"] })),
      "KILN_EOPTION_CONFLICT/usage",
    );
  });

  it("builds a spec: -p implies user networking, defaults are small", () => {
    const s = specFromOptions("img", ["a"], { publish: ["8080:80"], env: ["K=V"] }, {});
    assert.equal(s.net.kind, "user");
    assert.deepEqual(s.net.kind === "user" && s.net.forwards, [
      { proto: "tcp", host: 8080, guest: 80, hostAddr: "127.0.0.1" },
    ]);
    assert.deepEqual(s.env, { K: "V" });
    assert.deepEqual(s.args, ["a"]);
    assert.equal(s.memoryMB, 128);
    assert.equal(s.machine, "microvm");
    assert.equal(s.console, "attached");
    assert.equal(s.accel, "auto");
    // A foreground machine's state goes when it ends, unless --keep; a detached one stays.
    assert.equal(s.rm, true);
    assert.equal(specFromOptions("img", undefined, { keep: true }, {}).rm, false);
    assert.equal(specFromOptions("img", undefined, { detach: true }, {}).rm, false);
    const none = specFromOptions("img", undefined, {}, { KILN_ACCEL: "tcg" });
    assert.equal(none.net.kind, "none");
    assert.equal(none.args, undefined);
    assert.equal(none.accel, "tcg");
  });

  it("refuses conflicting options", () => {
    assert.equal(
      code(() => specFromOptions("i", undefined, { detach: true, interactive: true })),
      "KILN_EOPTION_CONFLICT/usage",
    );
    assert.equal(
      code(() => specFromOptions("i", undefined, { publish: ["8080:80", "8080:81"] })),
      "KILN_EOPTION_CONFLICT/usage",
    );
    // The same number on TCP and UDP is two different ports.
    assert.doesNotThrow(() => specFromOptions("i", undefined, { publish: ["53:53", "53:53/udp"] }));
    assert.equal(
      code(() => specFromOptions("i", undefined, { publish: ["8080:80"], net: ["tap:tap0"] })),
      "KILN_EOPTION_CONFLICT/usage",
    );
    assert.equal(
      code(() => specFromOptions("i", undefined, { publish: ["1234:80"], gdb: "1234" })),
      "KILN_EOPTION_CONFLICT/usage",
    );
    assert.equal(
      code(() => specFromOptions("i", undefined, { machine: "isapc" })),
      "KILN_EBAD_MACHINE/usage",
    );
    assert.equal(
      code(() => specFromOptions("i", undefined, { name: "../x" })),
      "KILN_EBAD_NAME/usage",
    );
    assert.equal(
      code(() => specFromOptions("i", undefined, { accel: "hvf" })),
      "KILN_EBAD_ACCEL/usage",
    );
  });

  it("boots a launchable on its own machine type; --machine pc/q35 replaces it, microvm and --uefi on BIOS-only are refused", () => {
    const bios = { kind: "raw-bios", args: ["-M", "pc", "-drive", "file=/d.img"], memoryMinMB: 128 };
    const uefi = {
      kind: "raw-uefi",
      args: ["-M", "q35", "-bios", "/ovmf"],
      memoryMinMB: 256,
      firmware: "/ovmf",
    };
    const base = specFromOptions("/d.img", undefined, {});
    const s = launchableSpec(base, bios, {});
    assert.equal(s.machine, "pc");
    assert.deepEqual(s.launchable?.args, bios.args);
    const q35 = launchableSpec(base, bios, { machine: "q35" });
    assert.equal(q35.machine, "q35");
    assert.deepEqual(q35.launchable?.args, ["-M", "q35", "-drive", "file=/d.img"]);
    assert.equal(launchableSpec(base, uefi, { uefi: true }).machine, "q35");
    assert.equal(
      code(() => launchableSpec(base, bios, { machine: "microvm" })),
      "KILN_EOPTION_CONFLICT/usage",
    );
    assert.equal(
      code(() => launchableSpec(base, bios, { uefi: true })),
      "KILN_ELAUNCHABLE_NO_UEFI/usage",
    );
  });
});
