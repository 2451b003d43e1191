// Debian's software as it is: interpreters whose libraries are data (Python, Perl, Node), a server that
// refuses root (memcached, run as the user its package makes), and users chosen at launch.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { freePort, poll, runKiln, tmpDir } from "../helpers.js";
import { bakeImage, compile, helloProgram } from "./fixtures.js";

const names: string[] = [];
const work = tmpDir("kiln-deb-runtimes-");
after(async () => {
  for (const n of names) await runKiln(["rm", "-f", n]);
  work.cleanup();
});

/** One request on a fresh TCP connection; the whole answer once the peer has said `until`. */
function talk(port: number, send: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer matching ${until} (got ${JSON.stringify(got)})`));
    }, 5000);
    s.on("connect", () => s.write(send));
    s.on("data", (d) => {
      got += d.toString();
      if (until.test(got)) {
        clearTimeout(timer);
        s.end();
        resolve(got);
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe("Debian's runtimes and servers, unmodified", () => {
  test("python3 imports json and ssl from its standard library, which comes with it", async () => {
    const r = await runKiln(
      ["run", "deb:python3", "--kernel", "stock", "--", "-c", "import json, ssl; print(6*7)"],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^42\r?$/m);
  });

  test("perl runs a script that uses POSIX and List::Util", async () => {
    const script = join(work.path, "posix.pl");
    writeFileSync(
      script,
      'use POSIX qw(floor); use List::Util qw(sum);\nprint "floor=", floor(7.9), " sum=", sum(1..4), "\\n";\n',
    );
    const r = await runKiln(
      ["run", "deb:perl", "--kernel", "stock", "--add", `${script}:/posix.pl`, "--", "/posix.pl"],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^floor=7 sum=10\r?$/m);
  });

  test("memcached answers set and get with no flags, as the memcache user its package makes", async () => {
    const port = await freePort();
    const name = `memcached-${port}`;
    names.push(name);
    const r = await runKiln(
      ["run", "deb:memcached", "--kernel", "stock", "-p", `${port}:11211`, "-d", "--name", name],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const got = await poll(
      "memcached set/get",
      () => talk(port, "set k 0 0 2\r\nhi\r\nget k\r\n", /END\r\n/).catch(() => undefined),
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.equal(got, "STORED\r\nVALUE k 0 2\r\nhi\r\nEND\r\n");
    assert.equal((await runKiln(["stop", name])).code, 0);
  });

  test("nodejs serves HTTP in the memory kiln chooses by default", async () => {
    const port = await freePort();
    const name = `nodejs-${port}`;
    names.push(name);
    const srv = join(work.path, "srv.js");
    writeFileSync(
      srv,
      "require('http').createServer((q, r) => r.end('node ' + process.version + '\\n')).listen(8080);\n",
    );
    const r = await runKiln(
      [
        "run",
        "deb:nodejs",
        "--kernel",
        "stock",
        "--add",
        `${srv}:/srv.js`,
        "-p",
        `${port}:8080`,
        "-d",
        "--name",
        name,
        "--",
        "/srv.js",
      ],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const page = await poll(
      "GET /",
      () => talk(port, "GET / HTTP/1.0\r\n\r\n", /node v\d+/).catch(() => undefined),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.match(page, /^HTTP\/1\.[01] 200/);
  });

  test("PostgreSQL 15 makes its cluster at boot and answers psql from the host, as the postgres user", async () => {
    const port = await freePort();
    const name = `postgres-${port}`;
    names.push(name);
    const r = await runKiln(
      ["run", "deb:postgresql-15", "--kernel", "stock", "-p", `${port}:5432`, "-d", "--name", name],
      { timeoutMs: 300_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const psql = (sql: string) =>
      execFileSync("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-tAc", sql], {
        timeout: 5000,
        stdio: ["ignore", "pipe", "pipe"],
      })
        .toString()
        .trim();
    const one = await poll(
      "psql select 1",
      () => {
        try {
          return psql("select 1");
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    assert.equal(one, "1");
    // The server process's own credentials, as its kernel reports them: the uid the image gave postgres.
    const status = psql("select pg_read_file('/proc/self/status')");
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    const passwd = psql("select pg_read_file('/etc/passwd')");
    const pgUid = /^postgres:x:(\d+):/m.exec(passwd)?.[1];
    assert.ok(pgUid && pgUid !== "0", passwd);
    assert.equal(uid, pgUid);
    assert.equal((await runKiln(["stop", name])).code, 0);
  });

  test("squid resolves (perlapi from perl-base) and bakes, with the proxy user Debian gives it", async () => {
    const out = join(work.path, "squid");
    await bakeImage(out, ["deb:squid"]);
    const m = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    assert.ok(m.programs.some((p: { path: string }) => p.path === "/usr/sbin/squid"));
    const proxy = m.accounts.users.find((u: { name: string }) => u.name === "proxy");
    assert.deepEqual(proxy && [proxy.uid, proxy.gid], [13, 13]);
  });

  test("QEMU runs inside a kiln VM and boots a kiln image there: its firmware and ROMs come as data", async () => {
    const hello = await bakeImage(join(work.path, "inner-hello"), [await helloProgram()]);
    // -M pc: SeaBIOS (another package, on QEMU's firmware path) and linuxboot_dma.bin load the kernel.
    const r = await runKiln(
      [
        "run",
        "deb:qemu-system-x86",
        "--program",
        "/usr/bin/qemu-system-x86_64",
        "--kernel",
        "stock",
        "--add",
        `${hello}/kernel:/inner/kernel`,
        "--add",
        `${hello}/initrd:/inner/initrd`,
        "--",
        ..."-M pc -accel tcg -m 128 -nodefaults -no-user-config -display none -no-reboot -serial stdio".split(
          " ",
        ),
        ..."-device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel /inner/kernel -initrd /inner/initrd".split(
          " ",
        ),
        "-append",
        "console=ttyS0 quiet panic=-1 reboot=t",
      ],
      { timeoutMs: 600_000 },
    );
    assert.match(r.stdout, /^Hello from kiln!\r?$/m, r.stderr + r.stdout.slice(-3000));
    // The inner kiln-init's line, then QEMU's own status: isa-debug-exit makes exit 0 into (0 << 1) | 1.
    assert.match(r.stdout, /^kiln: exit 0\r*\n(.*\n)*?kiln: exit 1\r?$/m);
  });

  test("-u runs the program as a user of the image; an unknown one is refused before boot", async () => {
    const ids = await compile(
      "ids",
      '#include <stdio.h>\n#include <unistd.h>\nint main(void){printf("uid=%d gid=%d\\n",(int)getuid(),(int)getgid());return 0;}\n',
    );
    const img = join(work.path, "ids");
    await bakeImage(img, [ids]);
    const asNobody = await runKiln(["launch", "qemu", img, "-u", "nobody"], { timeoutMs: 120_000 });
    assert.equal(asNobody.code, 0, asNobody.stderr);
    assert.match(asNobody.stdout, /^uid=65534 gid=65534\r?$/m);
    const asNumber = await runKiln(["launch", "qemu", img, "-u", "1000:nogroup"], { timeoutMs: 120_000 });
    assert.match(asNumber.stdout, /^uid=1000 gid=65534\r?$/m);
    const asRoot = await runKiln(["launch", "qemu", img], { timeoutMs: 120_000 });
    assert.match(asRoot.stdout, /^uid=0 gid=0\r?$/m);
    const bad = await runKiln(["launch", "qemu", img, "-u", "postgres"], { timeoutMs: 60_000 });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /KILN_EUSER/);
    assert.match(bad.stderr, /no user "postgres"/);
    assert.match(bad.stderr, /root, nobody/);
  });
});
