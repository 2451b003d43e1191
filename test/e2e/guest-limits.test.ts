// What the guest would refuse (or never get to see) is refused on the host, before anything boots: boot
// configurations kiln-init would stop on, configurations too large for it, kernel command lines the kernel
// would cut, and a tap or bridge the host does not have. Each refusal is quick, starts no QEMU and leaves
// no machine behind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunResult, runKiln, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";
import { helloImage } from "./ociFixture.js";

const work = tmpDir("kiln-guest-limits-");
after(() => work.cleanup());
let hello = "";
let image = "";

before(async () => {
  hello = await helloProgram();
  image = await helloImage();
});

function qemuUnder(dir: string): string[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-af", "qemu-system"], { encoding: "utf8" });
  } catch {}
  return out.split("\n").filter((l) => l.includes(dir));
}

async function refused(
  args: string[],
  exit: number,
  code: string,
  message: RegExp,
  opts: { home?: string } = {},
): Promise<RunResult> {
  const t0 = Date.now();
  const r = await runKiln(args, { timeoutMs: 30_000, ...opts });
  const ms = Date.now() - t0;
  assert.equal(r.code, exit, `${args.join(" ").slice(0, 200)}: ${r.stdout.slice(-500)}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^kiln: error ${code}: `, "m"), r.stderr);
  assert.match(r.stderr.split("\n").find((l) => l.startsWith("kiln: error")) ?? "", message);
  assert.match(r.stderr, /hint: \S/);
  assert.ok(ms < 15_000, `refused only after ${ms} ms`);
  assert.doesNotMatch(r.stdout, /kiln: (exit|config error)/, "nothing booted");
  return r;
}

describe("bake refuses what kiln-init would refuse", () => {
  const config = (name: string, text: string) => {
    const f = join(work.path, `${name}.json`);
    writeFileSync(f, text);
    return f;
  };
  const bake = (name: string, extra: string[]) => ["bake", "qemu", join(work.path, name), hello, ...extra];

  it("--config of null, an empty argv, a NUL in hostname, an unknown key", async () => {
    const cases: [string, string, RegExp][] = [
      ["null", "null", /the configuration must be an object, not null/],
      ["argv", '{"rc":[{"bin":"/bin/hello","argv":[]}]}', /key "rc\[0\]\.argv": must not be empty/],
      ["nul", '{"hostname":"web\\u0000x"}', /key "hostname": must not contain a NUL character/],
      ["twomain", '{"rc":[{"bin":"/bin/a"},{"bin":"/bin/b"}]}', /key "rc\[1\]\.mode": a second main program/],
      [
        "dns",
        '{"net":[{"if":"eth0","dhcp":true,"dns":["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4","1.1.1.5"]}]}',
        /too many servers \(limit 4\)/,
      ],
    ];
    for (const [name, text, message] of cases) {
      await refused(
        bake(`out-${name}`, ["--config", config(name, text)]),
        2,
        "KILN_ECONFIG_INVALID",
        message,
      );
      assert.ok(!existsSync(join(work.path, `out-${name}`)), `no image for ${name}`);
    }
  });

  it("a 50 MB string in --config: refused by size, before any image is written", async () => {
    const big = config("big", JSON.stringify({ env: { BIG: "x".repeat(50 * 1024 * 1024) } }));
    await refused(
      bake("out-big", ["--config", big]),
      2,
      "KILN_ECONFIG_INVALID",
      /bytes of JSON, more than the 65536/,
    );
    assert.ok(!existsSync(join(work.path, "out-big")));
  });

  it("a 100 KB --cmdline, and a bare -- in it", async () => {
    await refused(
      bake("out-cmdline", ["--cmdline", `x=${"y".repeat(100 * 1024)}`]),
      2,
      "KILN_ECMDLINE_INVALID",
      /kernel command line of 10\d{4} bytes for an image: x86 Linux takes at most 1535/,
    );
    await refused(bake("out-dashes", ["--cmdline", "quiet -- foo"]), 2, "KILN_ECMDLINE_INVALID", /bare "--"/);
    assert.ok(!existsSync(join(work.path, "out-cmdline")));
  });
});

describe("launch refuses what the guest would refuse, before it boots", () => {
  const home = () => join(work.path, "launch-home");
  const names = async () =>
    (JSON.parse((await runKiln(["ps", "--json"], { home: home() })).stdout) as { name: string }[]).map(
      (m) => m.name,
    );

  it("-e values over kiln-init's 64 KiB, and more program arguments than it takes", async () => {
    const big = "x".repeat(70 * 1024);
    await refused(
      ["launch", "qemu", "-e", `BIG=${big}`, image],
      2,
      "KILN_ELAUNCH_CONFIG",
      /it is \d+ bytes of JSON, more than the 65536 kiln-init reads/,
      { home: home() },
    );
    const args = Array.from({ length: 64 }, (_, i) => `a${i}`);
    await refused(
      ["launch", "qemu", image, "--", ...args],
      2,
      "KILN_ELAUNCH_CONFIG",
      /key "rc\[0\]\.argv": too many arguments \(limit 64\)/,
      {
        home: home(),
      },
    );
    assert.deepEqual(await names(), []);
    assert.deepEqual(qemuUnder(image), []);
  });

  it("--net tap:NOSUCH: the missing interface is named at once, not after a DHCP wait", async () => {
    await refused(
      ["launch", "qemu", "--net", "tap:NOSUCH", image],
      2,
      "KILN_ENET_MISSING",
      /tap "NOSUCH": this host has no network interface/,
      {
        home: home(),
      },
    );
    await refused(
      ["launch", "qemu", "--net", "bridge:lo", image],
      2,
      "KILN_ENET_MISSING",
      /bridge "lo": that interface is not a bridge/,
      {
        home: home(),
      },
    );
    assert.ok(!existsSync("/sys/class/net/NOSUCH"), "no tap was made");
    assert.deepEqual(await names(), []);
  });

  it("an image whose kernel command line is too long (baked by an older kiln) is refused, not booted mute", async () => {
    const old = join(work.path, "old-image");
    cpSync(image, old, { recursive: true });
    const m = JSON.parse(readFileSync(join(old, "manifest.json"), "utf8"));
    m.cmdline = `${m.cmdline} x=${"y".repeat(100 * 1024)}`;
    writeFileSync(join(old, "manifest.json"), JSON.stringify(m, null, 2));
    await refused(["launch", "qemu", old], 2, "KILN_ECMDLINE_INVALID", /x86 Linux takes at most 2047/, {
      home: home(),
    });
    assert.deepEqual(qemuUnder(old), []);
    assert.deepEqual(await names(), []);
  });
});
