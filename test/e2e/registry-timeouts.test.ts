// A registry that stops answering ends a command with KILN_EREGISTRY_TIMEOUT naming the registry and the
// phase (connect, answer, stalled body), after kiln's own limits (--connect-timeout, --timeout,
// --stall-timeout), instead of hanging for fetch's five minutes or forever.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunResult, runKiln, tmpDir } from "../helpers.js";
import { faultyProxy, helloImage, type Registry, startRegistry } from "./ociFixture.js";

const work = tmpDir("kiln-registry-timeouts-");
const sockets: Socket[] = [];
let silent: Server;
let silentHost = "";

before(async () => {
  // Accepts every connection, reads the request, never says a word.
  silent = createServer((s) => {
    sockets.push(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  silentHost = `127.0.0.1:${(silent.address() as { port: number }).port}`;
});
after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
  work.cleanup();
});

function timedOut(r: RunResult, ms: number, phase: RegExp, host: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^kiln: error KILN_EREGISTRY_TIMEOUT: /m, r.stderr);
  assert.match(r.stderr, new RegExp(`"${host.replace(/\./g, "\\.")}`));
  assert.match(r.stderr, phase);
  assert.match(r.stderr, /hint: .*--(connect-|stall-)?timeout SECONDS/);
  assert.ok(ms < 15_000, `gave up after ${ms} ms`);
}

async function timed(args: string[]): Promise<[RunResult, number]> {
  const t0 = Date.now();
  const r = await runKiln(args, { timeoutMs: 60_000 });
  return [r, Date.now() - t0];
}

describe("registry time limits", () => {
  it("a registry that accepts and never answers: pull and pkg give up after --timeout", async () => {
    const [r, ms] = await timed(["pull", `${silentHost}/hello:1`, join(work.path, "out1"), "--timeout", "1"]);
    timedOut(r, ms, /sent no answer to manifest .* within 1 s/, silentHost);
    assert.ok(!existsSync(join(work.path, "out1")));
    const [s, ms2] = await timed(["pkg", "search", "--repo", `oci://${silentHost}/kiln`, "--timeout", "1"]);
    timedOut(s, ms2, /sent no answer .* within 1 s/, silentHost);
  });

  it("a registry that never takes the connection: --connect-timeout", async () => {
    // A listener whose accept queue is full and never drained: the next SYN gets no answer.
    const py: ChildProcess = spawn(
      "python3",
      [
        "-c",
        "import socket,sys,time\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nprint(s.getsockname()[1], flush=True); time.sleep(120)",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const port = await new Promise<number>((res) =>
        py.stdout!.once("data", (b) => res(Number(String(b).trim()))),
      );
      const filler = connect({ host: "127.0.0.1", port }).on("error", () => {});
      sockets.push(filler);
      await new Promise((r) => filler.once("connect", r));
      const host = `127.0.0.1:${port}`;
      const [r, ms] = await timed([
        "pull",
        `${host}/hello:1`,
        join(work.path, "out2"),
        "--connect-timeout",
        "1",
      ]);
      timedOut(r, ms, /no connection within 1 s \(connect timeout\)/, host);
    } finally {
      py.kill();
    }
  });

  describe("a registry that sends headers, then stalls", () => {
    let registry: Registry;
    before(async () => {
      registry = await startRegistry(join(work.path, "registry"));
    });
    after(async () => registry?.stop());

    it("a blob download that stops moving: --stall-timeout; nothing kept", async () => {
      const ref = `${registry.host}/hello:1`;
      const push = await runKiln(["push", await helloImage(), ref, "--json"]);
      assert.equal(push.code, 0, push.stderr);
      const image = JSON.parse(readFileSync(join(await helloImage(), "manifest.json"), "utf8"));
      const kernel = `sha256:${image.kernel.sha256}`;
      const proxy = await faultyProxy(registry.host, kernel, "stall", 100_000);
      try {
        const out = join(work.path, "out3");
        const [r, ms] = await timed(["pull", `${proxy.host}/hello:1`, out, "--stall-timeout", "1"]);
        timedOut(r, ms, /stalled: nothing moved for 1 s \(stall timeout\)/, proxy.host);
        assert.equal(proxy.hits, 1);
        assert.ok(!existsSync(out), "nothing kept");
      } finally {
        await proxy.close();
      }
    });
  });

  it("refuses a time limit that is not a positive number of seconds", async () => {
    for (const [opt, v] of [
      ["--timeout", "0"],
      ["--connect-timeout", "soon"],
      ["--stall-timeout", "-1"],
    ]) {
      const r = await runKiln(["pull", `${silentHost}/hello:1`, join(work.path, "out4"), `${opt}=${v}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`KILN_EBAD_TIMEOUT: Cannot use ${opt} "${v}"`));
    }
  });
});
