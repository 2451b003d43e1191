// Saved boot states (src/launch/bootState.ts): an image's first launch on a machine shape saves one, later
// launches restore it, and each restored guest is its own: its configuration, a random generator reseeded
// from the host and the host's wall clock. A state that changed on disk is never restored.
import assert from "node:assert/strict";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, runKiln, tmpDir } from "../helpers.js";
import { bakeImage, compile } from "./fixtures.js";
import { bakeImage as bakeKind, kilnCc } from "./launchFixture.js";

const scratch = tmpDir("kiln-boot-state-");
const home = join(scratch.path, "home");
let image: string;
let httpd: string;

const SOURCE = `#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
int main(int argc, char **argv) {
  unsigned char r[16];
  struct timespec now;
  if (getrandom(r, sizeof r, 0) != sizeof r) return 3;
  clock_gettime(CLOCK_REALTIME, &now);
  printf("random=");
  for (int i = 0; i < 16; i++) printf("%02x", r[i]);
  printf(" time=%lld.%03ld greeting=%s\\n", (long long)now.tv_sec, now.tv_nsec / 1000000, getenv("GREETING"));
  return argc > 1 ? atoi(argv[1]) : 0;
}
`;

interface Said {
  random: string;
  time: number;
  greeting: string;
}

function said(stdout: string): Said {
  const m = /random=([0-9a-f]{32}) time=(\d+\.\d+) greeting=(\S*)/.exec(stdout);
  assert.ok(m, stdout);
  return { random: m[1]!, time: Number(m[2]), greeting: m[3]! };
}

// Its own KILN_HOME for the states, which other tests' launches must not save or prune meanwhile; the
// images are baked in the shared test home (its toolchain and kernel) and carry all a launch needs.
const kiln = (args: string[]) => runKiln(args, { home });

before(async () => {
  kilnCc();
  const program = await compile("boot-state-probe", SOURCE);
  image = await bakeImage(join(scratch.path, "probe"), [program]);
  httpd = bakeKind(scratch.path, "httpd");
});
after(() => scratch.cleanup());

const states = () => readdirSync(join(home, "cache", "boot-states")).filter((n) => n.endsWith(".state"));

describe("saved boot states", { timeout: 10 * 60_000 }, () => {
  it("the first launch saves one, the next restore it, each guest with its own seed, clock and configuration", async () => {
    const first = await kiln(["launch", "qemu", "--json", "-e", "GREETING=one", image]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(JSON.parse(first.stdout).bootState, "saved");
    assert.equal(states().length, 1);
    // Long enough that a restored guest still on the template's clock would be seconds behind.
    await new Promise((r) => setTimeout(r, 3000));
    const file = join(home, "cache", "boot-states", states()[0]!);
    const ctime = statSync(file).ctimeMs;
    const seen: Said[] = [];
    for (const [greeting, status] of [
      ["two", 0],
      ["three", 7],
    ] as const) {
      const before = Date.now() / 1000;
      const r = await kiln([
        "launch",
        "qemu",
        "--json",
        "-e",
        `GREETING=${greeting}`,
        image,
        "--",
        String(status),
      ]);
      assert.equal(r.code, status, r.stderr);
      assert.equal(JSON.parse(r.stdout).bootState, "restored");
      const s = said(r.stderr);
      assert.equal(s.greeting, greeting, "the launch's configuration, not the template's");
      // Within the launch, give or take 0.5 s (the guest's clock reads milliseconds; the host passes its own
      // at QEMU's start): the template's clock would read ~3.4 s before the launch began.
      const after = Date.now() / 1000;
      assert.ok(
        s.time >= before - 0.5 && s.time <= after + 0.5,
        `guest clock ${s.time}, host ${before} to ${after}`,
      );
      seen.push(s);
    }
    assert.notEqual(seen[0]!.random, seen[1]!.random, "two restored guests draw different random bytes");
    assert.equal(states().length, 1, "one state for one shape");
    // An unchanged ctime keeps the state's digest cached: a restore must not read 60 MB to check it.
    assert.equal(statSync(file).ctimeMs, ctime, "restoring leaves the state file untouched");
  });

  it("a dry run shows the restore; --cold boots from the kernel up", async () => {
    const dry = await kiln(["launch", "qemu", "--dry-run", "--json", image]);
    const plan = JSON.parse(dry.stdout) as { command: string[]; bootState?: string; cmdline: string };
    assert.equal(plan.bootState, "restored");
    assert.ok(plan.command.includes("-incoming"), plan.command.join(" "));
    assert.match(
      plan.command.join(" "),
      /name=opt\/kiln\/boot,string=kiln\.seed=[0-9a-f]{64} kiln\.time=\d+\.\d{9}/,
    );
    const cold = await kiln(["launch", "qemu", "--json", "--cold", "-e", "GREETING=cold", image]);
    assert.equal(cold.code, 0, cold.stderr);
    assert.equal(JSON.parse(cold.stdout).bootState, undefined);
    assert.equal(said(cold.stderr).greeting, "cold");
  });

  it("a state whose bytes changed is not restored: it is saved again", async () => {
    const [name] = states();
    const file = join(home, "cache", "boot-states", name!);
    writeFileSync(file, "not a migration stream\n", { flag: "a" });
    const r = await kiln(["launch", "qemu", "--json", image]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).bootState, "saved");
    const again = await kiln(["launch", "qemu", "--json", image]);
    assert.equal(JSON.parse(again.stdout).bootState, "restored");
  });

  it("a restored httpd answers on its own port forward, not the template's", async () => {
    for (const expect of ["saved", "restored", "restored"]) {
      const port = await freePort();
      const name = `bs-${expect}-${port}`;
      const up = await kiln(["launch", "qemu", "-d", "--json", "--name", name, "-p", `${port}:8080`, httpd]);
      assert.equal(up.code, 0, up.stderr);
      try {
        let body = "";
        for (let t = 0; t < 300 && !body; t++) {
          body = await fetch(`http://127.0.0.1:${port}/`)
            .then((res) => res.text())
            .catch(() => "");
          if (!body) await new Promise((r) => setTimeout(r, 100));
        }
        assert.match(body, /./, `no answer on ${port}`);
      } finally {
        await kiln(["stop", name]);
        await kiln(["rm", name]);
      }
    }
  });
});
