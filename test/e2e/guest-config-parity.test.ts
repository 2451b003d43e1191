// The host's check of a boot configuration (src/manifest/bootConfig.ts) against kiln-init's own
// (guest/config.c and guest/json.c, compiled on the host by guest/test/configcheck.c): for every case, both
// accept it, or both refuse it at the same key. A limit changed on one side only fails here.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { bootConfigProblem, GUEST_LIMITS } from "../../src/manifest/bootConfig.js";
import { ROOT } from "../helpers.js";

const GUEST = join(ROOT, "guest");
const CC = process.env.KILN_TEST_HOST_CC ?? "gcc";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const rc = (over: Record<string, unknown>) => ({ v: 1, rc: [{ bin: "/bin/p", ...over }] });
const net = (over: Record<string, unknown>) => ({ v: 1, net: [{ if: "eth0", ...over }] });
const blk = (over: Record<string, unknown>) => ({ v: 1, blk: [{ dev: "vdb", mount: "/data", ...over }] });
const route = (over: Record<string, unknown>) => ({
  v: 1,
  routes: [{ dst: "10.1.0.0/16", via: "10.0.2.2", ...over }],
});
const env = (n: number) => ({ v: 1, env: Object.fromEntries(range(n).map((i) => [`V${i}`, "x"])) });

// biome-ignore lint/suspicious/noTemplateCurlyInString: kiln-init's own substitution, not a template
const XEN_TARGET = "${xen_target}";

/** Name → configuration (a JS value, written as JSON the way kiln writes it). */
const CASES: Record<string, unknown> = {
  minimal: { v: 1 },
  full: {
    v: 1,
    hostname: "web",
    env: { PORT: "8080" },
    rc: [
      { bin: "/bin/httpd", argv: ["httpd", "-p", "8080"], mode: "main" },
      { bin: "/bin/helper", mode: "bg" },
    ],
    net: [{ if: "eth0", addr: "10.0.2.15/24", gw: "10.0.2.2", dns: ["10.0.2.3"], mtu: 1500 }],
    blk: [{ dev: "vdb", fs: "ext4", mount: "/data", ro: false }],
    sysctl: { "net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0.100/rp_filter": "0" },
    routes: [{ dst: "default", via: "10.0.2.2" }],
    cwd: "/srv",
  },
  "not an object: null": null,
  "not an object: array": [],
  "not an object: string": "x",
  "v missing": {},
  "v 2": { v: 2 },
  "v string": { v: "1" },
  "v fraction": { v: 1.5 },
  "unknown key": { v: 1, hostnme: "x" },
  "hostname 64": { v: 1, hostname: "h".repeat(64) },
  "hostname 65": { v: 1, hostname: "h".repeat(65) },
  "hostname empty": { v: 1, hostname: "" },
  "hostname NUL": { v: 1, hostname: "web\u0000x" },
  "hostname leading -": { v: 1, hostname: "-web" },
  "hostname underscore": { v: 1, hostname: "a_b" },
  "hostname number": { v: 1, hostname: 7 },
  "env 126 (128 with PATH and HOME)": env(126),
  "env 127": env(127),
  "env overriding PATH counts once": { v: 1, env: { ...env(126).env, PATH: "/x" } },
  "env empty name": { v: 1, env: { "": "x" } },
  "env name with =": { v: 1, env: { "A=B": "x" } },
  "env name with NUL": { v: 1, env: { "A\u0000": "x" } },
  "env value number": { v: 1, env: { A: 1 } },
  "env value NUL": { v: 1, env: { A: "x\u0000y" } },
  "env value lone surrogate": { v: 1, env: { A: "x\ud800" } },
  "env not object": { v: 1, env: ["A=1"] },
  "rc 16": { v: 1, rc: range(16).map((i) => ({ bin: `/bin/p${i}`, mode: i ? "bg" : "main" })) },
  "rc 17": { v: 1, rc: range(17).map((i) => ({ bin: `/bin/p${i}`, mode: "bg" })) },
  "rc entry not object": { v: 1, rc: ["/bin/p"] },
  "rc unknown key": rc({ args: [] }),
  "rc bin missing": { v: 1, rc: [{ argv: ["p"] }] },
  "rc bin relative": rc({ bin: "bin/p" }),
  "rc bin directory": rc({ bin: "/bin/" }),
  "rc bin 4095": rc({ bin: `/${"b".repeat(4094)}` }),
  "rc bin 4096": rc({ bin: `/${"b".repeat(4095)}` }),
  "rc argv empty": rc({ argv: [] }),
  "rc argv 64": rc({ argv: range(64).map(String) }),
  "rc argv 65": rc({ argv: range(65).map(String) }),
  "rc argv number": rc({ argv: ["p", 1] }),
  "rc argv NUL": rc({ argv: ["p", "a\u0000"] }),
  "rc mode unknown": rc({ mode: "daemon" }),
  "rc two mains": { v: 1, rc: [{ bin: "/a" }, { bin: "/b" }] },
  "rc setup then main": { v: 1, rc: [{ bin: "/s", mode: "setup" }, { bin: "/m" }] },
  "rc bg ready": rc({ mode: "bg", ready: "/run/x.sock", ready_timeout_ms: 60000 }),
  "rc main ready": rc({ ready: "/run/x.sock" }),
  "rc setup ready": rc({ mode: "setup", ready: "/run/x.sock" }),
  "rc ready relative": rc({ mode: "bg", ready: "run/x.sock" }),
  "rc timeout without ready": rc({ mode: "bg", ready_timeout_ms: 5 }),
  "rc timeout 0": rc({ mode: "bg", ready: "/r", ready_timeout_ms: 0 }),
  "rc timeout max": rc({ mode: "bg", ready: "/r", ready_timeout_ms: 3600000 }),
  "rc timeout over max": rc({ mode: "bg", ready: "/r", ready_timeout_ms: 3600001 }),
  "rc timeout fraction": rc({ mode: "bg", ready: "/r", ready_timeout_ms: 1.5 }),
  "rc uid and gid": rc({ uid: 11211, gid: 11212 }),
  "rc uid alone": rc({ uid: 65534 }),
  "rc uid 0": rc({ uid: 0 }),
  "rc uid max": rc({ uid: 4294967294 }),
  "rc uid over max": rc({ uid: 4294967295 }),
  "rc uid negative": rc({ uid: -1 }),
  "rc uid fraction": rc({ uid: 1.5 }),
  "rc uid string": rc({ uid: "postgres" }),
  "rc gid without uid": rc({ gid: 100 }),
  "rc gid string": rc({ uid: 100, gid: "staff" }),
  "rc gid over max": rc({ uid: 100, gid: 4294967295 }),
  "rc argv_xen_dm": rc({ argv: ["qemu", "-qmp", "unix:/run/qmp,server=on,wait=off"], argv_xen_dm: true }),
  "rc argv_xen_dm false": rc({ argv_xen_dm: false }),
  "rc argv_xen_dm with 64 arguments": rc({ argv: range(64).map(String), argv_xen_dm: true }),
  "rc argv_xen_dm with 65 arguments": rc({ argv: range(65).map(String), argv_xen_dm: true }),
  "rc argv_xen_dm string": rc({ argv_xen_dm: "true" }),
  "rc argv_xen_dm number": rc({ argv_xen_dm: 1 }),
  "rc argv_xen_dm null": rc({ argv_xen_dm: null }),
  "rc argv_xen_dm on bg and setup": {
    v: 1,
    rc: [
      { bin: "/s", mode: "setup", argv_xen_dm: false },
      { bin: "/b", mode: "bg", argv_xen_dm: true },
      { bin: "/m", argv: ["m", XEN_TARGET] },
    ],
  },
  "rc argv_xen_dm twice": {
    v: 1,
    rc: [
      { bin: "/a", mode: "bg", argv_xen_dm: true },
      { bin: "/b", argv_xen_dm: false },
      { bin: "/c", mode: "bg", argv_xen_dm: true },
    ],
  },
  "rc argv_xen_dm twice, second main": {
    v: 1,
    rc: [
      { bin: "/a", argv_xen_dm: true },
      { bin: "/b", argv_xen_dm: true },
    ],
  },
  "rc xen_target in bin and argv": rc({ bin: `/bin/${XEN_TARGET}`, argv: ["p", `dm/${XEN_TARGET}/q`] }),
  "net 8": { v: 1, net: range(8).map((i) => ({ if: `eth${i}` })) },
  "net 9": { v: 1, net: range(9).map((i) => ({ if: `eth${i}` })) },
  "net if empty": net({ if: "" }),
  "net if 15": net({ if: "e".repeat(15) }),
  "net if 16": net({ if: "e".repeat(16) }),
  "net if slash": net({ if: "a/b" }),
  "net if colon": net({ if: "a:b" }),
  "net if space": net({ if: "a b" }),
  "net if dotdot": net({ if: ".." }),
  "net if twice": { v: 1, net: [{ if: "eth0" }, { if: "eth0" }] },
  "net if missing": { v: 1, net: [{ addr: "10.0.0.2/24" }] },
  "net addr leading zero": net({ addr: "10.0.2.015/24" }),
  "net addr prefix 33": net({ addr: "10.0.2.15/33" }),
  "net addr prefix 0": net({ addr: "10.0.2.15/0" }),
  "net addr prefix 08": net({ addr: "10.0.2.15/08" }),
  "net addr octet 256": net({ addr: "10.0.2.256/24" }),
  "net addr no prefix": net({ addr: "10.0.2.15" }),
  "net dhcp": net({ dhcp: true }),
  "net dhcp with addr": net({ addr: "10.0.0.2/24", dhcp: true }),
  "net dhcp false with addr": net({ addr: "10.0.0.2/24", dhcp: false }),
  "net dhcp string": net({ dhcp: "yes" }),
  "net gw without addr": net({ gw: "10.0.0.1" }),
  "net gw bad": net({ addr: "10.0.0.2/24", gw: "10.0.0" }),
  "net dns 4": net({ dns: ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"] }),
  "net dns 5": net({ dns: ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4", "9.9.9.9"] }),
  "net dns bad": net({ dns: ["dns.example"] }),
  "net mtu 67": net({ mtu: 67 }),
  "net mtu 65535": net({ mtu: 65535 }),
  "net mtu 65536": net({ mtu: 65536 }),
  "net mtu fraction": net({ mtu: 1500.5 }),
  "net mtu string": net({ mtu: "1500" }),
  "net unknown key": net({ ip: "10.0.0.2/24" }),
  "blk 8": { v: 1, blk: range(8).map((i) => ({ dev: `vd${i}`, mount: `/d${i}` })) },
  "blk 9": { v: 1, blk: range(9).map((i) => ({ dev: `vd${i}`, mount: `/d${i}` })) },
  "blk dev empty": blk({ dev: "" }),
  "blk dev path": blk({ dev: "/dev/vdb" }),
  "blk dev dot": blk({ dev: "." }),
  "blk dev 64": blk({ dev: "d".repeat(64) }),
  "blk dev 65": blk({ dev: "d".repeat(65) }),
  "blk fs upper": blk({ fs: "EXT4" }),
  "blk fs 32": blk({ fs: "f".repeat(32) }),
  "blk fs 33": blk({ fs: "f".repeat(33) }),
  "blk fs empty": blk({ fs: "" }),
  "blk mount root": blk({ mount: "/" }),
  "blk mount relative": blk({ mount: "data" }),
  "blk mount missing": { v: 1, blk: [{ dev: "vdb" }] },
  "blk ro string": blk({ ro: "no" }),
  "blk pseudo file system": blk({ dev: "xenfs", fs: "xenfs", mount: "/proc/xen" }),
  "sysctl 64": { v: 1, sysctl: Object.fromEntries(range(64).map((i) => [`a.b${i}`, "1"])) },
  "sysctl 65": { v: 1, sysctl: Object.fromEntries(range(65).map((i) => [`a.b${i}`, "1"])) },
  "sysctl empty segment": { v: 1, sysctl: { "a..b": "1" } },
  "sysctl dotdot segment": { v: 1, sysctl: { "a/../b": "1" } },
  "sysctl empty key": { v: 1, sysctl: { "": "1" } },
  "sysctl key 200": { v: 1, sysctl: { [`a.${"b".repeat(198)}`]: "1" } },
  "sysctl key 201": { v: 1, sysctl: { [`a.${"b".repeat(199)}`]: "1" } },
  "sysctl bad char": { v: 1, sysctl: { "a.b c": "1" } },
  "sysctl value number": { v: 1, sysctl: { "a.b": 1 } },
  "routes 32": { v: 1, routes: range(32).map((i) => ({ dst: `10.${i}.0.0/16`, via: "10.0.2.2" })) },
  "routes 33": { v: 1, routes: range(33).map((i) => ({ dst: `10.${i}.0.0/16`, via: "10.0.2.2" })) },
  "route host bits": route({ dst: "10.1.0.1/16" }),
  "route /32": route({ dst: "10.1.0.1/32" }),
  "route default": route({ dst: "default" }),
  "route via missing": { v: 1, routes: [{ dst: "default" }] },
  "route dst missing": { v: 1, routes: [{ via: "10.0.2.2" }] },
  "route via bad": route({ via: "gateway" }),
  "route unknown key": route({ metric: 1 }),
  "cwd relative": { v: 1, cwd: "srv" },
  "cwd number": { v: 1, cwd: 1 },
  "document of 65535 bytes": { v: 1, env: { A: "a".repeat(65535 - 27) } },
  "document of 65536 bytes": { v: 1, env: { A: "a".repeat(65536 - 27) } },
  "document of 65537 bytes": { v: 1, env: { A: "a".repeat(65537 - 27) } },
  "too many values": rc({ argv: range(4095).map(String) }),
  "nested too deeply": { v: 1, x: JSON.parse(`${"[".repeat(16)}${"]".repeat(16)}`) },
};

describe("boot configuration: the host refuses exactly what kiln-init refuses", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-config-parity-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("every case, accepted or refused at the same key", () => {
    const exe = join(dir, "configcheck");
    const build = spawnSync(
      CC,
      [
        "-std=c11",
        "-O1",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-o",
        exe,
        "test/configcheck.c",
        "json.c",
        "config.c",
      ],
      { cwd: GUEST, encoding: "utf8" },
    );
    assert.equal(build.status, 0, `build failed:\n${build.stderr}`);
    const names = Object.keys(CASES);
    const files = names.map((name, i) => {
      const f = join(dir, `case-${i}.json`);
      // As kiln writes a source: image.json and config.json are the JSON and a newline.
      writeFileSync(f, `${JSON.stringify(CASES[name])}\n`);
      return f;
    });
    const r = spawnSync(exe, files, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const guest = r.stdout.trimEnd().split("\n");
    assert.equal(guest.length, names.length);
    const mismatches: string[] = [];
    let refused = 0;
    names.forEach((name, i) => {
      const g = guest[i]!;
      const h = bootConfigProblem(CASES[name]);
      const gPath = g === "ok" ? undefined : g.split("\t")[0];
      if (g !== "ok") refused++;
      if ((g === "ok") !== (h === undefined) || (h && h.path !== gPath))
        mismatches.push(
          `${name}: guest ${g === "ok" ? "accepts" : `refuses ${JSON.stringify(g)}`}, host ${
            h ? `refuses ${JSON.stringify(`${h.path}\t${h.message}`)}` : "accepts"
          }`,
        );
    });
    assert.deepEqual(mismatches, []);
    // Both sides of most limits are in the corpus.
    assert.ok(refused > 80 && names.length - refused > 20, `${refused} refused of ${names.length}`);
    assert.equal(GUEST_LIMITS.input, 65536);
  });
});
