// Machines on several networks, joined VM to VM through QEMU socket links (no root, no tap): a TCP
// connection across one link; then examples/router's topology, a client on network A, the router (a
// kernel-plane image with a baked nftables ruleset) on A and B, a server on B; and the bake and boot
// failures of rulesets and setup steps. Real QEMU, Debian's stock kernel and Debian's nft.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { poll, ROOT, runKiln } from "../helpers.js";
import { kilnCc, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-router-"));
// Machine state (detached machines, their logs) apart from the shared home; images are baked in the shared one.
const home = join(work, "home");
let netprobe = "";
let router = "";
before(async () => {
  mkdirSync(join(work, "build"), { recursive: true });
  const program = join(work, "build", "netprobe");
  execFileSync(kilnCc(), ["-Os", "-o", program, join(ROOT, "examples", "router", "netprobe.c")]);
  netprobe = await bake("netprobe", [program]);
  const ex = join(ROOT, "examples", "router");
  router = await bake("router", [
    "--config",
    join(ex, "router.json"),
    "--firewall",
    join(ex, "rules.nft"),
    "--name",
    "router",
  ]);
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

async function bake(name: string, args: string[]): Promise<string> {
  const out = join(work, name);
  const r = await runKiln(["bake", "qemu", out, ...args, "--kernel", "stock", "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

const kiln = (args: string[], timeoutMs?: number) =>
  runKiln(args, { home, ...(timeoutMs ? { timeoutMs } : {}) });

/** A machine in the background; its console is read with `kiln logs`. */
async function detached(name: string, args: string[]): Promise<void> {
  const r = await kiln(["launch", "qemu", "-d", "--name", name, ...args]);
  assert.equal(r.code, 0, r.stderr);
}

async function logs(name: string): Promise<string> {
  return (await kiln(["logs", name])).stdout;
}

/** Wait for a console line of a detached machine (and fail with its console when it does not come). */
async function consoleLine(name: string, re: RegExp, timeoutMs = 90_000): Promise<string> {
  try {
    return await poll(`${name}: ${re}`, async () => re.exec(await logs(name))?.[0], {
      timeoutMs,
      intervalMs: 250,
    });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${name}'s console:\n${await logs(name)}`);
  }
}

async function stop(...names: string[]): Promise<void> {
  for (const n of names) {
    await kiln(["stop", n]);
    await kiln(["rm", n]);
  }
}

/** A port for a socket link nobody else uses: tests run in parallel, each in its own range. */
let nextPort = 20000 + (process.pid % 2000) * 10;
const linkPort = () => nextPort++;

describe("machines on VM-to-VM links", () => {
  it("joins two machines through a socket link: a TCP connection crosses it", async () => {
    const port = linkPort();
    await detached("link-srv", [
      "--net",
      `socket:listen=127.0.0.1:${port},ip=10.77.0.1/24`,
      netprobe,
      "--",
      "serve",
      "80",
      "wait",
    ]);
    try {
      const c = await kiln(
        [
          "launch",
          "qemu",
          "--net",
          `socket:connect=127.0.0.1:${port},ip=10.77.0.2/24,mtu=1400`,
          netprobe,
          "--",
          "reach",
          "10.77.0.1:80",
        ],
        120_000,
      );
      assert.equal(c.code, 0, `${c.stdout}\n${c.stderr}`);
      assert.match(c.stdout, /kiln: net eth0 10\.77\.0\.2\/24 up/);
      assert.match(c.stdout, /netprobe: reach 10\.77\.0\.1:80: peer 10\.77\.0\.2:\d+/);
      await consoleLine("link-srv", /netprobe: served 80 to 10\.77\.0\.2:\d+/);
    } finally {
      await stop("link-srv");
    }
  });

  it("routes through examples/router: web out behind its address, port 23 dropped, a port forward back in", async () => {
    const manifest = JSON.parse(readFileSync(join(router, "manifest.json"), "utf8"));
    assert.equal(manifest.firewall.path, "/kiln/firewall.nft");
    assert.deepEqual(manifest.config.rc, [
      { bin: "/usr/sbin/nft", argv: ["nft", "-f", "/kiln/firewall.nft"], mode: "setup" },
    ]);
    for (const c of ["nf.tables", "nf.conntrack", "nf.nat"])
      assert.ok(
        manifest.components.some((x: { name: string }) => x.name === c),
        c,
      );
    // The same inputs bake the same bytes: kiln verify rebuilds it from what the image records.
    const v = await runKiln(["verify", router]);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    await topology(router, "rt");
  });

  it("routes the same with the specialized kernel built for the router platform, where one is built", async (t) => {
    // kiln components build router: minutes, once; bake then takes that kernel by default for --firewall.
    const out = join(work, "router-spec");
    const r = await runKiln([
      "bake",
      "qemu",
      out,
      "--config",
      join(ROOT, "examples", "router", "router.json"),
      "--firewall",
      join(ROOT, "examples", "router", "rules.nft"),
      "--json",
      "--quiet",
    ]);
    assert.equal(r.code, 0, r.stderr);
    if (JSON.parse(r.stdout).kernel.kind !== "specialized") {
      t.skip(
        "no specialized kernel for the router platform in this KILN_HOME (kiln components build router)",
      );
      return;
    }
    await topology(out, "sp");
  });
});

describe("a ruleset given at launch", () => {
  it("replaces the baked one: port 23 opened for this machine only; refused when bad or when the image has no nft", async () => {
    const open23 = join(work, "open23.nft");
    const rules = readFileSync(join(ROOT, "examples", "router", "rules.nft"), "utf8");
    writeFileSync(
      open23,
      rules.replace(
        'iifname "eth0" oifname "eth1" tcp dport 80 accept',
        'iifname "eth0" oifname "eth1" tcp dport { 23, 80 } accept',
      ),
    );
    assert.notEqual(readFileSync(open23, "utf8"), rules);
    const [a, b] = [linkPort(), linkPort()];
    await detached("fw-router", [
      "--net",
      `socket:listen=127.0.0.1:${a}`,
      "--net",
      `socket:listen=127.0.0.1:${b}`,
      "--firewall",
      open23,
      router,
    ]);
    try {
      await consoleLine("fw-router", /^kiln: ready \(no program\)$/m);
      await detached("fw-server", [
        "--net",
        `socket:connect=127.0.0.1:${b},ip=10.2.0.2/24`,
        netprobe,
        "--",
        "serve",
        "23",
        "wait",
      ]);
      const c = await kiln(
        [
          "launch",
          "qemu",
          "--net",
          `socket:connect=127.0.0.1:${a},ip=10.1.0.2/24,gw=10.1.0.1`,
          netprobe,
          "--",
          "reach",
          "10.2.0.2:23",
        ],
        180_000,
      );
      assert.equal(c.code, 0, `${c.stdout}\n--- router:\n${await logs("fw-router")}`);
      assert.match(c.stdout, /netprobe: reach 10\.2\.0\.2:23: peer 10\.2\.0\.1:\d+/);
    } finally {
      await stop("fw-server", "fw-router");
    }
    const bad = join(work, "bad-launch.nft");
    writeFileSync(
      bad,
      "table ip t {\n  chain c {\n    type filter hook fwd priority 0;\n    counter drop\n  }\n}\n",
    );
    const r = await kiln(["launch", "qemu", "--firewall", bad, router]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /KILN_EFIREWALL_INVALID.*line 3/);
    const none = await kiln(["launch", "qemu", "--firewall", open23, netprobe]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /KILN_EFIREWALL_NO_NFT/);
  });
});

describe("a project's kiln.toml [image]", () => {
  it("describes the interfaces and the firewall: kiln run DIR bakes them, a --net without ip= keeps them", async () => {
    const dir = join(work, "project");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "netprobe.c"), readFileSync(join(ROOT, "examples", "router", "netprobe.c")));
    writeFileSync(join(dir, "Makefile"), "netprobe: netprobe.c\n\t$(CC) -Os -o $@ netprobe.c\n");
    // Its own port 23 is dropped on the way out: without the ruleset, the connection to itself would succeed.
    writeFileSync(
      join(dir, "out.nft"),
      "table inet filter {\n  chain output {\n    type filter hook output priority filter;\n    tcp dport 23 drop\n  }\n}\n",
    );
    writeFileSync(
      join(dir, "kiln.toml"),
      [
        "[image]",
        'args = ["serve", "23", "serve", "80", "reach", "10.78.0.2:80", "drop", "10.78.0.2:23"]',
        'net = [{ if = "eth0", addr = "10.78.0.2/24", mtu = 1400 }]',
        'firewall = "out.nft"',
        "",
      ].join("\n"),
    );
    // A NIC on a hub of its own: its address comes from [image] net.
    const r = await kiln(
      ["run", dir, "--kernel", "stock", "--net", `socket:mcast=230.0.0.1:${linkPort()}`],
      180_000,
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /kiln: net eth0 10\.78\.0\.2\/24 up/);
    assert.match(r.stdout, /netprobe: reach 10\.78\.0\.2:80: peer 10\.78\.0\.2:\d+/);
    assert.match(r.stdout, /netprobe: drop 10\.78\.0\.2:23: no answer within 4 s/);

    // kiln run --firewall takes the place of [image] firewall: with a ruleset that drops nothing, port 23
    // answers; a broken one is refused before anything is built or booted.
    const open = join(dir, "open.nft");
    writeFileSync(
      open,
      "table inet filter {\n  chain output {\n    type filter hook output priority filter;\n  }\n}\n",
    );
    const o = await kiln(
      [
        "run",
        dir,
        "--kernel",
        "stock",
        "--firewall",
        open,
        "--net",
        `socket:mcast=230.0.0.1:${linkPort()}`,
        "--",
        "serve",
        "23",
        "reach",
        "10.78.0.2:23",
      ],
      180_000,
    );
    assert.equal(o.code, 0, `${o.stdout}\n${o.stderr}`);
    assert.match(o.stdout, /netprobe: reach 10\.78\.0\.2:23: peer 10\.78\.0\.2:\d+/);
    const broken = join(dir, "broken.nft");
    writeFileSync(broken, "table inet filter {\n  chain output {\n    tcp dport 23 dorp\n  }\n}\n");
    const b = await kiln(["run", dir, "--kernel", "stock", "--firewall", broken]);
    assert.equal(b.code, 2, b.stderr);
    assert.match(b.stderr, /KILN_EFIREWALL_INVALID.*line 3/);
  });
});

describe("examples/dhcp-dns", () => {
  it("leases the inside network's client its address and answers the names it serves", async () => {
    const ex = join(ROOT, "examples", "dhcp-dns");
    const dns = await bake("dhcp-dns", [
      "deb:dnsmasq-base:/usr/sbin/dnsmasq",
      "--add",
      `${join(ex, "dnsmasq.conf")}:/etc/dnsmasq.conf`,
      "--config",
      join(ex, "dhcp-dns.json"),
      "--name",
      "dhcp-dns",
    ]);
    // Network A as a multicast hub: any number of machines, no start order.
    const hub = `socket:mcast=230.0.0.1:${linkPort()}`;
    await detached("dd-dns", ["--net", hub, dns]);
    try {
      await consoleLine("dd-dns", /dnsmasq-dhcp\[\d+\]: DHCP, IP range 10\.1\.0\.100 -- 10\.1\.0\.199/);
      const c = await kiln(
        ["launch", "qemu", "--net", `${hub},ip=dhcp`, netprobe, "--", "resolve", "server.lan"],
        120_000,
      );
      const out = `${c.stdout}\n--- dhcp-dns:\n${await logs("dd-dns")}`;
      assert.equal(c.code, 0, out);
      assert.match(c.stdout, /^kiln: net eth0 (10\.1\.0\.1\d\d)\/24 up \(dhcp\)$/m, out);
      const leased = /kiln: net eth0 (10\.1\.0\.1\d\d)\//.exec(c.stdout)![1]!;
      assert.match(c.stdout, /^netprobe: resolve server\.lan: 10\.2\.0\.2$/m, out);
      const dlog = await logs("dd-dns");
      assert.match(dlog, new RegExp(`DHCPACK\\(eth0\\) ${leased.replaceAll(".", "\\.")} `), out);
      assert.match(dlog, new RegExp(`query\\[A\\] server\\.lan from ${leased.replaceAll(".", "\\.")}`), out);
    } finally {
      await stop("dd-dns");
    }
  });
});

describe("failures a kernel-plane image reports", () => {
  it("refuses a broken ruleset at bake, with its line", async () => {
    const bad = join(work, "bad.nft");
    writeFileSync(
      bad,
      "table inet filter {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 22 acept\n  }\n}\n",
    );
    const r = await runKiln([
      "bake",
      "qemu",
      join(work, "badfw"),
      "--firewall",
      bad,
      "--kernel",
      "stock",
      "--quiet",
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /KILN_EFIREWALL_INVALID/);
    assert.match(r.stderr, /line 4, column \d+: syntax error/);
    assert.match(r.stderr, /tcp dport 22 acept/);
    const j = await runKiln(["bake", "qemu", join(work, "badfw"), "--firewall", bad, "--json", "--quiet"]);
    assert.equal(j.code, 2, j.stderr);
    assert.equal(JSON.parse(j.stdout).error.details.line, 4);
    // A ruleset nft accepts, but whose interface index it must resolve, is refused with a hint to use names.
    const iif = join(work, "iif.nft");
    writeFileSync(
      iif,
      'table ip t {\n  chain c {\n    type filter hook forward priority 0;\n    iif "eth1" drop\n  }\n}\n',
    );
    const i = await runKiln([
      "bake",
      "qemu",
      join(work, "iiffw"),
      "--firewall",
      iif,
      "--kernel",
      "stock",
      "--quiet",
    ]);
    assert.equal(i.code, 2, i.stderr);
    assert.match(i.stderr, /line 4/);
    assert.match(i.stderr, /iifname/);
  });

  it("stops the boot when a setup step exits 1: kiln: error: and a non-zero status, main never runs", async () => {
    const cfg = join(work, "setup-fails.json");
    writeFileSync(
      cfg,
      JSON.stringify({
        v: 1,
        rc: [
          { bin: "/bin/netprobe", argv: ["netprobe", "drop", "127.0.0.1:1"], mode: "setup" },
          { bin: "/bin/netprobe", argv: ["netprobe", "serve", "80", "wait"] },
        ],
      }),
    );
    const img = await bake("setup-fails", [join(work, "build", "netprobe"), "--config", cfg]);
    const r = await kiln(["launch", "qemu", img], 120_000);
    assert.equal(r.code, 126, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /netprobe: drop 127\.0\.0\.1:1: FAILED: Connection refused/);
    assert.match(r.stdout, /^kiln: error: setup \/bin\/netprobe exited with status 1$/m);
    assert.doesNotMatch(r.stdout, /served|kiln: ready/);
  });
});

/**
 * examples/router's three machines: the router (IMAGE) on links A and B, a server on B, the client on A in the
 * foreground; every check of the example, then all stopped. P prefixes the machine names.
 */
async function topology(image: string, p: string): Promise<void> {
  const [a, b] = [linkPort(), linkPort()];
  // The router listens on both links; the others connect, so it starts first.
  await detached(`${p}-router`, [
    "--net",
    `socket:listen=127.0.0.1:${a}`,
    "--net",
    `socket:listen=127.0.0.1:${b}`,
    image,
  ]);
  try {
    await consoleLine(`${p}-router`, /^kiln: ready \(no program\)$/m);
    const rlog = await logs(`${p}-router`);
    // Ready comes after both legs and the ruleset (nft ran as a setup step without an error).
    assert.ok(rlog.indexOf("kiln: net eth0 10.1.0.1/24 up") < rlog.indexOf("kiln: ready"), rlog);
    assert.ok(rlog.indexOf("kiln: net eth1 10.2.0.1/24 up") < rlog.indexOf("kiln: ready"), rlog);
    assert.doesNotMatch(rlog, /Error|kiln: error/);
    // The server has no route to the inside network: only the router's masquerade gets its answers home.
    await detached(`${p}-server`, [
      "--net",
      `socket:connect=127.0.0.1:${b},ip=10.2.0.2/24`,
      netprobe,
      "--",
      "serve",
      "80",
      "serve",
      "23",
      "reach",
      "10.2.0.1:8080",
      "wait",
    ]);
    const c = await kiln(
      [
        "launch",
        "qemu",
        "--net",
        `socket:connect=127.0.0.1:${a},ip=10.1.0.2/24,gw=10.1.0.1`,
        netprobe,
        "--",
        "serve",
        "80",
        "reach",
        "10.2.0.2:80",
        "drop",
        "10.2.0.2:23",
        "served",
        "1",
      ],
      180_000,
    );
    const out = `${c.stdout}\n--- server:\n${await logs(`${p}-server`)}\n--- router:\n${await logs(`${p}-router`)}`;
    assert.equal(c.code, 0, out);
    // Through the router to TCP 80, and the server saw the router's outside address (masquerade).
    assert.match(c.stdout, /netprobe: reach 10\.2\.0\.2:80: peer 10\.2\.0\.1:\d+/, out);
    assert.match(await logs(`${p}-server`), /netprobe: served 80 to 10\.2\.0\.1:\d+/, out);
    // Port 23 listens on the server, but the router drops the way there: no answer, not a refusal.
    assert.match(c.stdout, /netprobe: drop 10\.2\.0\.2:23: no answer within 4 s/, out);
    assert.doesNotMatch(await logs(`${p}-server`), /served 23/, out);
    // The port forward: the server reached the router's 8080 and got the client's service, which saw the
    // server's own address (destination NAT only).
    assert.match(await logs(`${p}-server`), /netprobe: reach 10\.2\.0\.1:8080: peer 10\.2\.0\.2:\d+/, out);
    assert.match(c.stdout, /netprobe: served 80 to 10\.2\.0\.2:\d+/, out);
  } finally {
    await stop(`${p}-server`, `${p}-router`);
  }
}
