import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import type { KilnError } from "../core/errors.js";
import { type BootConfig, bootConfigProblem, encodeCmdlineConfig } from "../manifest/bootConfig.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { X86_CMDLINE_MAX } from "../manifest/kernelCmdline.js";
import { configSegment, encodeConfig, firewallSegment, placeConfig } from "./configPlacement.js";
import type { MachineSpec } from "./machine.js";
import { testSpec } from "./machineSpecFixture.js";
import { runtimeConfig } from "./runtimeConfig.js";

const manifest = (config: BootConfig) => ({ name: "web", config }) as unknown as ImageManifest;
const spec = (over: Partial<MachineSpec> = {}) => testSpec({ memoryMB: 128, cpus: 1, accel: "tcg", ...over });
const vd = (i: number) => `vd${String.fromCharCode(97 + i)}`;
const baked: BootConfig = {
  v: 1,
  env: { A: "1", B: "2" },
  rc: [
    { bin: "/bin/helper", argv: ["helper", "-x"], mode: "bg" },
    { bin: "/bin/httpd", argv: ["httpd", "-p", "80"] },
  ],
};

describe("run-time boot configuration", () => {
  it("is absent when the launch changes nothing", () => {
    assert.equal(runtimeConfig(spec(), manifest(baked), vd), undefined);
  });

  it("merges env over the baked env and replaces only main's arguments", () => {
    const c = runtimeConfig(spec({ env: { B: "3", C: "4" }, args: ["-p", "8080"] }), manifest(baked), vd);
    assert.deepEqual(c?.env, { A: "1", B: "3", C: "4" });
    assert.deepEqual(c?.rc, [
      { bin: "/bin/helper", argv: ["helper", "-x"], mode: "bg" },
      { bin: "/bin/httpd", argv: ["httpd", "-p", "8080"] },
    ]);
    // Empty arguments (`-- ` with nothing after) drop the baked ones.
    const none = runtimeConfig(spec({ args: [] }), manifest(baked), vd);
    assert.deepEqual(none?.rc?.[1]?.argv, ["httpd"]);
  });

  it("refuses arguments for a kernel-plane image", () => {
    assert.throws(
      () => runtimeConfig(spec({ args: ["x"] }), manifest({ v: 1 }), vd),
      (e: KilnError) => e.code === "KILN_EARGS_NO_PROGRAM" && e.kind === "usage",
    );
  });

  it("gives user networking its fixed addresses, tap its own, and a bridge without one DHCP", () => {
    const u = runtimeConfig(spec({ net: { kind: "user", forwards: [] } }), manifest(baked), vd);
    assert.deepEqual(u?.net, [{ if: "eth0", addr: "10.0.2.15/24", gw: "10.0.2.2", dns: ["10.0.2.3"] }]);
    const t = runtimeConfig(
      spec({ net: { kind: "tap", ifname: "tap0", addr: "10.9.0.2/24" } }),
      manifest(baked),
      vd,
    );
    assert.deepEqual(t?.net, [{ if: "eth0", addr: "10.9.0.2/24" }]);
    // Without an address, kiln-init asks the network's DHCP server.
    const b = runtimeConfig(spec({ net: { kind: "bridge", bridge: "br0" } }), manifest(baked), vd);
    assert.deepEqual(b?.net, [{ if: "eth0", dhcp: true }]);
  });

  it("names several NICs eth0, eth1... and keeps what the image bakes for an interface the launch leaves alone", () => {
    const router: BootConfig = {
      v: 1,
      net: [
        { if: "eth0", addr: "10.1.0.1/24" },
        { if: "eth1", addr: "10.2.0.1/24", mtu: 1400 },
        { if: "eth2", dhcp: true },
      ],
    };
    const link = (mode: "listen" | "connect", port: number) => ({ mode, addr: `127.0.0.1:${port}` });
    const c = runtimeConfig(
      spec({
        net: { kind: "socket", link: link("listen", 9000) },
        moreNets: [
          { kind: "socket", link: link("listen", 9001), mtu: 1300 },
          { kind: "user", forwards: [] },
        ],
      }),
      manifest(router),
      vd,
    );
    assert.deepEqual(c?.net, [
      { if: "eth0", addr: "10.1.0.1/24" },
      { if: "eth1", addr: "10.2.0.1/24", mtu: 1300 },
      { if: "eth2", addr: "10.0.2.15/24", gw: "10.0.2.2", dns: ["10.0.2.3"] },
    ]);
    const given = runtimeConfig(
      spec({
        net: { kind: "socket", link: link("connect", 9000), addr: "none" },
        moreNets: [{ kind: "socket", link: link("connect", 9001), addr: "dhcp" }],
      }),
      manifest(router),
      vd,
    );
    // Interfaces the machine lacks are left out: kiln-init would wait for them.
    assert.deepEqual(given?.net, [{ if: "eth0" }, { if: "eth1", dhcp: true }]);
    assert.equal(bootConfigProblem(c), undefined);
  });

  it("produces configurations the boot configuration schema accepts, and refuses bad mount points", () => {
    const c = runtimeConfig(
      spec({
        env: { K: "v" },
        args: ["x"],
        net: { kind: "user", forwards: [] },
        disks: [{ file: "/a", mount: "/data", ro: true }],
      }),
      manifest(baked),
      vd,
    );
    assert.equal(bootConfigProblem(c), undefined);
    assert.throws(
      () => runtimeConfig(spec({ disks: [{ file: "/a", mount: "data", ro: false }] }), manifest(baked), vd),
      (e: KilnError) => e.code === "KILN_ELAUNCH_CONFIG" && e.message.includes('"data"'),
    );
  });

  it("names mounted disks by their position and skips unmounted ones", () => {
    const c = runtimeConfig(
      spec({
        disks: [
          { file: "/a", mount: "/data", ro: false },
          { file: "/b", ro: false },
          { file: "/c", mount: "/logs", ro: true, fs: "xfs" },
        ],
      }),
      manifest(baked),
      vd,
    );
    assert.deepEqual(c?.blk, [
      { dev: "vda", fs: "ext4", mount: "/data", ro: false },
      { dev: "vdc", fs: "xfs", mount: "/logs", ro: true },
    ]);
  });

  it("keeps the baked mounts a launch-time mount does not replace (kiln-init takes blk as a whole)", () => {
    const withMounts: BootConfig = {
      ...baked,
      blk: [
        { dev: "xenfs", fs: "xenfs", mount: "/proc/xen" },
        { dev: "vdb", fs: "ext4", mount: "/data" },
      ],
    };
    const c = runtimeConfig(
      spec({
        disks: [{ file: "/a", mount: "/data", ro: true }],
        shares: [{ host: "/", mount: "/host", ro: false }],
      }),
      manifest(withMounts),
      vd,
    );
    assert.deepEqual(c?.blk, [
      { dev: "xenfs", fs: "xenfs", mount: "/proc/xen" },
      { dev: "vda", fs: "ext4", mount: "/data", ro: true },
      { dev: "share0", fs: "9p", mount: "/host", ro: false },
    ]);
  });
});

describe("configuration placement", () => {
  const cfg: BootConfig = { v: 1, env: { K: "V" } };

  it("encodes exactly as bootConfig.encodeCmdlineConfig", () => {
    const c: BootConfig = { v: 1, env: { "K/?": "ü+~" }, rc: [{ bin: "/b", argv: ["b", "a=b"] }] };
    assert.equal(encodeConfig(c), encodeCmdlineConfig(c));
  });

  it("puts a small configuration on the command line as base64url JSON", () => {
    const p = placeConfig("console=ttyS0 quiet", cfg);
    assert.equal(p.via, "cmdline");
    const token = p.cmdline[0]!;
    assert.match(token, /^kiln\.config=[A-Za-z0-9_-]+$/);
    assert.deepEqual(JSON.parse(Buffer.from(token.slice(12), "base64url").toString()), cfg);
  });

  it("moves a configuration that would overflow the x86 command line into an initrd segment", () => {
    const big: BootConfig = { v: 1, env: { BIG: "x".repeat(1600) } };
    const p = placeConfig("console=ttyS0 quiet", big);
    assert.equal(p.via, "initrd");
    assert.deepEqual(p.cmdline, []);
    // Just fits vs. just does not, counting the base and the reserve.
    const base = "a".repeat(100);
    const fit = placeConfig(base, cfg);
    const len = `${base} ${fit.cmdline[0]}`.length;
    assert.equal(placeConfig(base, cfg, { max: len }).via, "cmdline");
    assert.equal(placeConfig(base, cfg, { max: len + 10, reserve: 11 }).via, "initrd");
    assert.equal(X86_CMDLINE_MAX, 2047);
  });

  it("writes a segment Debian's cpio reads as /kiln/config.json", () => {
    const big: BootConfig = { v: 1, env: { BIG: "y".repeat(3000) } };
    const seg = configSegment(big);
    assert.equal(seg.length % 4, 0);
    const list = spawnSync("cpio", ["-it", "--quiet"], { input: seg, encoding: "utf8" });
    assert.equal(list.status, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split("\n"), ["kiln", "kiln/config.json"]);
    const out = spawnSync("cpio", ["-i", "--quiet", "--to-stdout", "kiln/config.json"], { input: seg });
    assert.deepEqual(JSON.parse(out.stdout.toString()), big);
  });

  it("writes a launch-time ruleset Debian's cpio reads over the baked /kiln/firewall.nft", () => {
    const rules = Buffer.from("flush ruleset\n");
    const seg = firewallSegment(rules, "/kiln/firewall.nft");
    assert.equal(seg.length % 4, 0);
    const list = spawnSync("cpio", ["-it", "--quiet"], { input: seg, encoding: "utf8" });
    assert.deepEqual(list.stdout.trim().split("\n"), ["kiln", "kiln/firewall.nft"]);
    const out = spawnSync("cpio", ["-i", "--quiet", "--to-stdout", "kiln/firewall.nft"], { input: seg });
    assert.deepEqual(out.stdout, rules);
  });
});
