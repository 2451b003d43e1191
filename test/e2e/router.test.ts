// Machines on several networks, joined VM to VM through QEMU socket links (no root, no tap): a TCP
// connection across one link; then examples/router's topology, a client on network A, the router (a
// kernel-plane image with a baked nftables ruleset) on A and B, a server on B; and the bake and boot
// failures of rulesets and setup steps. Real QEMU, Debian's stock kernel and Debian's nft.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { poll, ROOT, runKiln } from "../helpers.js";
import { kilnCc, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-router-"));
// Machine state (detached machines, their logs) apart from the shared home; images are baked in the shared one.
const home = join(work, "home");
let netprobe = "";
before(async () => {
  mkdirSync(join(work, "build"), { recursive: true });
  const program = join(work, "build", "netprobe");
  execFileSync(kilnCc(), ["-Os", "-o", program, join(ROOT, "examples", "router", "netprobe.c")]);
  netprobe = await bake("netprobe", [program]);
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
});
