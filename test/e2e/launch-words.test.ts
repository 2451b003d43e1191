// How kiln reads launch and run command lines, and what a launch leaves open or behind: kiln's options
// anywhere before `--` and only the words after it for the program; no option takes an empty value; a
// port forward listens on loopback unless told otherwise; a foreground run leaves no machine behind.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, poll, type RunResult, runKiln } from "../helpers.js";
import { bakeImage, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-launch-words-"));
const home = join(work, "home");
let hello = "";
let probe = "";
let plane = "";
before(() => {
  hello = bakeImage(work, "hello");
  probe = bakeImage(work, "probe");
  plane = bakeImage(work, "plane");
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => runKiln(args, { home, timeoutMs: 120_000 });
const names = async () =>
  (JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string; state: string }[]).map((m) => m.name);

function usage(r: RunResult, code: string, message: RegExp): void {
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`kiln: error ${code}: `));
  assert.match(r.stderr, message);
  assert.match(r.stderr, /hint: \S/);
}

describe("kiln's words and the program's", () => {
  it("an option after IMAGE is kiln's: --dry-run there plans, boots nothing, passes nothing to the guest", async () => {
    const r = await kiln(["launch", "qemu", probe, "--dry-run", "--json", "-e", "K=v"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { command: string[]; config?: { rc?: unknown; env?: unknown } };
    assert.ok(plan.command[0]?.includes("qemu-system"));
    assert.equal(plan.config?.rc, undefined, "the program's arguments are left as baked");
    assert.deepEqual(plan.config?.env, { K: "v" });
    assert.deepEqual(qemuProcesses(probe), []);
    assert.deepEqual(await names(), []);
  });

  it("only the words after -- go to the program, options among them included", async () => {
    const r = await kiln(["launch", "qemu", probe, "--dry-run", "--json", "--", "--dry-run", "-e", "x"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { config: { rc: { argv: string[] }[] } };
    assert.deepEqual(plan.config.rc[0]?.argv.slice(1), ["--dry-run", "-e", "x"]);
    const booted = await kiln(["launch", "qemu", probe, "-e", "PROBE_EXIT=3", "--", "a b", "--c"]);
    assert.equal(booted.code, 3, booted.stderr);
    assert.match(booted.stdout, /^probe: argv\[1\] = a b\r?$/m);
    assert.match(booted.stdout, /^probe: argv\[2\] = --c\r?$/m);
  });

  it("a word before -- that is not kiln's is refused, for launch and run", async () => {
    usage(
      await kiln(["launch", "qemu", hello, "stray"]),
      "KILN_EARGS_PLACE",
      /"stray" to the program: .* after --/,
    );
    usage(await kiln(["run", hello, "stray", "-q"]), "KILN_EARGS_PLACE", /"stray" to the program/);
    const unknown = await kiln(["launch", "qemu", hello, "--greeting", "hi"]);
    usage(unknown, "KILN_EUSAGE", /unknown option '--greeting'/);
    assert.match(unknown.stderr, /hint: .*the program's after it: kiln launch qemu IMAGE -- --its-option/);
    assert.deepEqual(qemuProcesses(hello), []);
  });

  it("no option takes an empty value; enum-like values are checked", async () => {
    const cases: [string[], string, RegExp][] = [
      [
        ["audit", "--deb", "zlib=1:1.2.13.dfsg-1", "--fail-on", ""],
        "KILN_EOPTION_EMPTY",
        /empty value for --fail-on/,
      ],
      [["launch", "qemu", "--net", "", hello], "KILN_EOPTION_EMPTY", /--net/],
      [["launch", "qemu", "-e", "A=1", "-e", "", hello], "KILN_EOPTION_EMPTY", /--env/],
      [["pull", "127.0.0.1:1/x:1", join(work, "o"), "--timeout", " "], "KILN_EOPTION_EMPTY", /--timeout/],
      [["sbom", hello, "--format", ""], "KILN_EOPTION_EMPTY", /--format/],
      [
        ["audit", "--deb", "zlib=1:1.2.13.dfsg-1", "--debian-release", "bookworm"],
        "KILN_EAUDIT_RELEASE",
        /"bookworm"/,
      ],
    ];
    for (const [args, code, message] of cases) usage(await kiln(args), code, message);
  });
});

describe("what a launch leaves open", () => {
  /** An IPv4 address of this host that is not loopback. */
  const outside = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

  const reaches = (host: string, port: number) =>
    new Promise<boolean>((res) => {
      const s = connect({ host, port, timeout: 2000 });
      s.once("connect", () => {
        s.destroy();
        res(true);
      });
      s.once("error", () => res(false));
      s.once("timeout", () => {
        s.destroy();
        res(false);
      });
    });

  it("-p HOST:GUEST listens on 127.0.0.1 only; -p 0.0.0.0:HOST:GUEST on every address", {
    skip: !outside && "no non-loopback IPv4 address",
  }, async () => {
    const [lo, all] = [await freePort("0.0.0.0"), await freePort("0.0.0.0")];
    const r = await kiln([
      "launch",
      "qemu",
      "-d",
      "--name",
      "fwd",
      "-p",
      `${lo}:80`,
      "-p",
      `0.0.0.0:${all}:81`,
      plane,
    ]);
    assert.equal(r.code, 0, r.stderr);
    try {
      // QEMU's user networking takes connections as soon as it runs, before the guest does anything.
      await poll("the forward on loopback", async () =>
        (await reaches("127.0.0.1", lo)) ? true : undefined,
      );
      assert.equal(await reaches(outside!, lo), false, `port ${lo} is reachable on ${outside}`);
      assert.equal(await reaches(outside!, all), true, `port ${all} is not reachable on ${outside}`);
      const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string; ports?: string[] }[];
      assert.deepEqual(ps.find((m) => m.name === "fwd")?.ports, [
        `127.0.0.1:${lo}->80/tcp`,
        `0.0.0.0:${all}->81/tcp`,
      ]);
    } finally {
      await kiln(["rm", "-f", "fwd"]);
    }
  });

  it("a foreground run leaves no machine behind unless --keep; a detached one stays until rm", async () => {
    const machines = () =>
      existsSync(join(home, "machines")) ? readdirSync(join(home, "machines")).length : 0;
    const before = machines();
    const plain = await kiln(["launch", "qemu", "--name", "fg", hello]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(!(await names()).includes("fg"), "an ended foreground run is not in kiln ps");
    assert.equal(machines(), before, "nor in the machines directory");
    const kept = await kiln(["launch", "qemu", "--keep", "--name", "kept", hello]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match((await kiln(["logs", "kept"])).stdout, /kiln: exit 0/);
    const bg = await kiln(["launch", "qemu", "-d", "--name", "bg", hello]);
    assert.equal(bg.code, 0, bg.stderr);
    await poll(
      "the detached hello to end",
      async () => {
        const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string; state: string }[];
        return ps.find((m) => m.name === "bg")?.state === "exited" ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.deepEqual((await names()).sort(), ["bg", "kept"]);
    usage(
      await kiln(["launch", "qemu", "--keep", "--rm", hello]),
      "KILN_EOPTION_CONFLICT",
      /--keep with --rm/,
    );
    for (const n of ["bg", "kept"]) assert.equal((await kiln(["rm", n])).code, 0);
    assert.deepEqual(await names(), []);
  });
});
