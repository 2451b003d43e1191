// Detached machines: kiln launch -d, ps, logs, stop, rm, against real QEMU processes; and a TCP port
// forwarded from the host to examples/httpd in the guest.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, KILN, poll, runKiln } from "../helpers.js";
import { bakeImage, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-detached-"));
const home = join(work, "home");
let httpd = "";
let plane = "";
before(() => {
  httpd = bakeImage(work, "httpd");
  plane = bakeImage(work, "plane");
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => runKiln(args, { home });
interface Ps {
  name: string;
  state: string;
  pid?: number;
  reason?: string;
  exitStatus?: number;
  ports?: string[];
}
const ps = async (): Promise<Ps[]> => JSON.parse((await kiln(["ps", "--json"])).stdout) as Ps[];

/** One HTTP GET: status and body, or undefined on a reset, a hang or a silent close. */
function fetchOnce(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: "127.0.0.1", port, path, timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

/** Errors are failures here, not "not yet": fetchOnce never throws, and `kiln ps` must always answer. */
const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000) =>
  poll(what, fn, { timeoutMs, intervalMs: 100, retryErrors: false });

describe("detached machines", () => {
  it("run in the background: ps, a forwarded port, logs -f, stop, rm", async () => {
    const port = await freePort("0.0.0.0");
    const r = await kiln(["launch", "qemu", "-d", "--name", "web", "-p", `${port}:8080`, httpd]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "web");
    const web = (await ps()).find((m) => m.name === "web");
    assert.equal(web?.state, "running");
    assert.deepEqual(web?.ports, [`127.0.0.1:${port}->8080/tcp`]);
    assert.deepEqual(
      qemuProcesses(httpd).map((p) => p.pid),
      [web?.pid],
    );
    // User networking accepts connections before the guest listens: poll until the guest answers.
    const answer = await until("the guest's answer", () => fetchOnce(port, "/health"));
    assert.equal(answer.status, 200);
    const logs = await kiln(["logs", "web"]);
    assert.match(logs.stdout, /^httpd: serving \/srv\/www on port 8080\r?$/m);

    // While it runs: its name and its port are taken, and rm refuses.
    const dup = await kiln(["launch", "qemu", "-d", "--name", "web", httpd]);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /KILN_EMACHINE_EXISTS: .*"web"/);
    const taken = await kiln(["launch", "qemu", "--name", "other", "-p", `${port}:80`, httpd]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, new RegExp(`KILN_EPORT_IN_USE: .*${port}/tcp`));
    const rm = await kiln(["rm", "web"]);
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /KILN_EMACHINE_RUNNING/);
    assert.equal(qemuProcesses(httpd).length, 1);

    // logs -f follows until the machine ends.
    const follow = spawn(process.execPath, [KILN, "logs", "-f", "web"], {
      env: { ...process.env, KILN_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let followed = "";
    follow.stdout.on("data", (b) => (followed += b));
    const followEnd = new Promise<number | null>((res) => follow.on("close", (c) => res(c)));
    const stop = await kiln(["stop", "web"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await followEnd, 0);
    assert.equal(followed, (await kiln(["logs", "web"])).stdout);
    assert.deepEqual(qemuProcesses(httpd), []);
    const stopped = (await ps()).find((m) => m.name === "web");
    assert.deepEqual([stopped?.state, stopped?.reason], ["exited", "stopped"]);
    assert.equal((await kiln(["rm", "web"])).code, 0);
    assert.ok(!(await ps()).some((m) => m.name === "web"));
  });

  it("shows a machine killed with SIGKILL as exited (crashed), never running", async () => {
    const r = await kiln(["launch", "qemu", "-d", "--name", "victim", plane]);
    assert.equal(r.code, 0, r.stderr);
    await until("the guest to be up", async () =>
      /kiln: ready/.test((await kiln(["logs", "victim"])).stdout) ? true : undefined,
    );
    const victim = (await ps()).find((m) => m.name === "victim");
    assert.equal(victim?.state, "running");
    process.kill(victim!.pid!, "SIGKILL");
    await until("QEMU to die", async () => (qemuProcesses(plane).length === 0 ? true : undefined), 10_000);
    const dead = (await ps()).find((m) => m.name === "victim");
    assert.deepEqual([dead?.state, dead?.reason, dead?.exitStatus], ["exited", "crashed", undefined]);
    // Its name is free again; stopping it is a no-op; rm removes it.
    assert.equal((await kiln(["stop", "victim"])).code, 0);
    assert.equal((await kiln(["rm", "victim"])).code, 0);
    const gone = await kiln(["logs", "victim"]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /KILN_EMACHINE_NOT_FOUND/);
  });
});
