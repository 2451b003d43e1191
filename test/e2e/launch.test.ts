// kiln launch qemu, attached: real QEMU (KVM where it boots Linux, else software emulation) booting the
// fixture image (see launchFixture.ts). Each boot takes about 2 s under TCG, so each test boots once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN, runKiln } from "../helpers.js";
import { imageAt, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-launch-"));
const home = join(work, "home");
let image = "";
before(() => {
  image = imageAt(work);
});
after(() => {
  for (const p of qemuProcesses(work)) process.kill(p.pid, "SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

const kiln = (args: string[]) => runKiln(args, { home });
const configLine = (out: string, kind: "cmdline" | "segment") => {
  const m = new RegExp(`^fixture: ${kind}-config (.*?)\\r?$`, "m").exec(out);
  return m ? JSON.parse(m[1]!) : undefined;
};

describe("kiln launch qemu (attached)", () => {
  it("shows the program's console and exits with its status; -e and -- ARGS reach the guest", async () => {
    const r = await kiln([
      "launch",
      "qemu",
      "-e",
      "FIXTURE_EXIT=7",
      "-e",
      "GREETING=hi there",
      image,
      "--",
      "a",
      "b c",
    ]);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^fixture: hello from the guest\r?$/m);
    assert.match(r.stdout, /^kiln: exit 7\r?$/m);
    const cfg = configLine(r.stdout, "cmdline");
    assert.deepEqual(cfg.env, { FIXTURE_EXIT: "7", GREETING: "hi there" });
    assert.deepEqual(cfg.rc, [{ bin: "/bin/hello", argv: ["hello", "a", "b c"], mode: "main" }]);
    assert.equal(configLine(r.stdout, "segment"), undefined);
  });

  it("passes a configuration too big for the command line as an initrd segment, and attaches disks in order", async () => {
    const d1 = join(work, "one.img");
    const d2 = join(work, "three.img");
    writeFileSync(d1, "");
    truncateSync(d1, 1 << 20);
    writeFileSync(d2, "");
    truncateSync(d2, 3 << 20);
    const big = "x".repeat(1800);
    const r = await kiln([
      "launch",
      "qemu",
      "--rm",
      "--name",
      "big",
      "-e",
      `BIG=${big}`,
      "-e",
      "FIXTURE_BLK=2",
      "-b",
      `${d1},/data`,
      "-b",
      `${d2},/logs,ro`,
      image,
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(configLine(r.stdout, "cmdline"), undefined);
    const cfg = configLine(r.stdout, "segment");
    assert.equal(cfg.env.BIG, big);
    assert.deepEqual(cfg.blk, [
      { dev: "vda", fs: "ext4", mount: "/data", ro: false },
      { dev: "vdb", fs: "ext4", mount: "/logs", ro: true },
    ]);
    // The guest sees the first -b as vda, as the configuration says (1 MiB = 2048 sectors).
    assert.match(r.stdout, /^fixture: blk vda 2048\r?$/m);
    assert.match(r.stdout, /^fixture: blk vdb 6144\r?$/m);
    const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string }[];
    assert.ok(!ps.some((m) => m.name === "big"), "--rm leaves no machine behind");
  });

  it("stops the machine on Ctrl-C and exits 130, leaving no QEMU behind", async () => {
    const child = spawn(
      process.execPath,
      [KILN, "launch", "qemu", "--name", "sig", "-e", "FIXTURE_STAY=1", image],
      {
        env: { ...process.env, KILN_HOME: home },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    const ready = new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`not ready: ${out}`)), 90_000);
      child.stdout.on("data", (b) => {
        out += b;
        if (/kiln: ready \(no program\)/.test(out)) {
          clearTimeout(t);
          res();
        }
      });
    });
    const exited = new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    await ready;
    assert.equal(qemuProcesses(image).length, 1);
    child.kill("SIGINT");
    assert.equal(await exited, 130);
    assert.deepEqual(qemuProcesses(image), []);
    const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as {
      name: string;
      state: string;
      reason: string;
    }[];
    const sig = ps.find((m) => m.name === "sig");
    assert.deepEqual([sig?.state, sig?.reason], ["exited", "stopped"]);
  });

  it("refuses bad input with clear errors and starts no QEMU", async () => {
    const names = async () =>
      (JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string }[]).map((m) => m.name);
    const before = await names();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "0.0.0.0", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const cases: [string[], number, string, RegExp][] = [
        [["launch", "qemu", join(work, "missing")], 1, "KILN_EIMAGE_NOT_FOUND", /missing/],
        [["launch", "qemu", "-M", "0", image], 2, "KILN_EBAD_MEMORY", /"0"/],
        [["launch", "qemu", "-b", join(work, "nope.img"), image], 2, "KILN_EDISK_NOT_FOUND", /nope\.img/],
        [["launch", "vbox", image], 2, "KILN_EBACKEND_UNKNOWN", /"vbox"/],
        [["launch", "qemu", "-d", "-i", image], 2, "KILN_EOPTION_CONFLICT", /-d/],
        [["launch", "qemu", "-p", "8080:80", "-p", "8080:81", image], 2, "KILN_EOPTION_CONFLICT", /8080/],
        [["launch", "qemu", "-p", `${port}:80`, image], 1, "KILN_EPORT_IN_USE", new RegExp(`${port}`)],
        [["launch", "qemu", "-e", "1BAD=x", image], 2, "KILN_EBAD_ENV", /1BAD/],
      ];
      for (const [args, code, err, msg] of cases) {
        const r = await kiln(args);
        assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`error ${err}: `), args.join(" "));
        const line = r.stderr.split("\n")[0] ?? "";
        assert.match(line, msg, args.join(" "));
        assert.match(r.stderr, /hint: \S/);
      }
      const j = await kiln(["launch", "qemu", "--json", "-M", "0", image]);
      assert.equal(JSON.parse(j.stdout).error.code, "KILN_EBAD_MEMORY");
    } finally {
      busy.close();
    }
    assert.deepEqual(qemuProcesses(image), []);
    assert.deepEqual(await names(), before, "failed launches leave no machine state");
  });
});
