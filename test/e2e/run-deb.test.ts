// Debian's own programs as unikernels: deb:NAME brings the package's binary and its shared-library closure.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, describe, test } from "node:test";
import { freePort, poll, runKiln } from "../helpers.js";

const names: string[] = [];
after(async () => {
  for (const n of names) await runKiln(["rm", "-f", n]);
});

describe("kiln run deb:NAME", () => {
  test("redis-server answers redis-cli PING with PONG from the host", async () => {
    const port = await freePort();
    const name = `redis-${port}`;
    names.push(name);
    const r = await runKiln(
      ["run", "deb:redis-server", "--kernel", "stock", "-p", `${port}:6379`, "-d", "--name", name],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const pong = await poll(
      "redis-cli ping",
      () => {
        const out = execFileSync("redis-cli", ["-p", String(port), "ping"], { timeout: 3000 })
          .toString()
          .trim();
        return out === "PONG" ? out : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 300 },
    );
    assert.equal(pong, "PONG");
    const set = execFileSync("redis-cli", ["-p", String(port), "set", "k", "v"])
      .toString()
      .trim();
    assert.equal(set, "OK");
    assert.equal((await runKiln(["stop", name])).code, 0);
  });

  test("nginx serves a page to curl", async () => {
    const port = await freePort();
    const name = `nginx-${port}`;
    names.push(name);
    const r = await runKiln(
      ["run", "deb:nginx-light", "--kernel", "stock", "-p", `${port}:80`, "-d", "--name", name],
      {
        timeoutMs: 300_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const page = await poll(
      "curl /",
      () => {
        const out = execFileSync("curl", ["-sf", "-m", "3", `http://127.0.0.1:${port}/`]).toString();
        return out.length ? out : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 300 },
    );
    assert.match(page, /nginx from Debian, baked by kiln/);
    assert.equal((await runKiln(["stop", name])).code, 0);
  });

  test("runs a package's program that is not named after it, chosen by path, with the guest's arguments", async () => {
    const r = await runKiln(
      [
        "run",
        "deb:coreutils",
        "--program",
        "/usr/bin/echo",
        "--kernel",
        "stock",
        "--",
        "echo",
        "from",
        "coreutils",
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^echo from coreutils\r?$/m);
  });
});
