import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { freePort, poll, ROOT, runKiln } from "../helpers.js";
import { WORK } from "./fixtures.js";

const DIR = join(WORK, "run");
mkdirSync(DIR, { recursive: true });

async function httpGet(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 2000);
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: ac.signal });
    return { status: r.status, body: await r.text() };
  } finally {
    clearTimeout(t);
  }
}

function kvSession(port: number, lines: string): Promise<string | undefined> {
  return new Promise((res, rej) => {
    const s = new Socket();
    let out = "";
    const want = lines.trim().split("\n").length;
    s.setTimeout(2000, () => {
      s.destroy();
      res(undefined);
    });
    s.on("data", (b) => {
      out += b;
      if (out.split("\n").length - 1 >= want) {
        s.end();
        res(out);
      }
    });
    s.on("error", rej);
    s.on("close", () => res(out.split("\n").length - 1 >= want ? out : undefined));
    s.connect(port, "127.0.0.1", () => s.write(lines));
  });
}

const started: string[] = [];
after(async () => {
  for (const name of started) await runKiln(["rm", "-f", name]);
});

describe("kiln run", () => {
  test("examples/hello prints from inside the VM, and a second run skips build and bake", async () => {
    const first = await runKiln(["run", join(ROOT, "examples", "hello")]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^Hello from kiln!$/m);
    assert.match(first.stdout, /^kiln: exit 0$/m);
    const second = await runKiln(["run", join(ROOT, "examples", "hello"), "--json"]);
    assert.equal(second.code, 0, second.stderr);
    const r = JSON.parse(second.stdout);
    assert.equal(r.built, "cached");
    assert.equal(r.baked, "cached");
    assert.equal(r.status, 0);
    assert.match(second.stderr, /Hello from kiln!/, "with --json the console goes to stderr");
  });

  test("the program's exit status is kiln's; arguments and environment reach it", async () => {
    const src = join(DIR, "seven.c");
    writeFileSync(
      src,
      '#include <stdio.h>\nint main(int c, char **v){ printf("args=%d last=%s\\n", c, v[c-1]); return 7; }\n',
    );
    const r = await runKiln(["run", src, "--", "one", "two"]);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stdout, /^args=3 last=two$/m);
    assert.match(r.stdout, /^kiln: exit 7$/m);
    const g = await runKiln(["run", join(ROOT, "examples", "hello"), "-e", "GREETING=Bonjour", "--", "x"]);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^Bonjour from kiln!$/m);
    assert.match(g.stdout, /^argv\[1\] = x$/m);
  });

  test("a program killed by an illegal instruction exits 132 with the SIGILL explanation", async () => {
    const src = join(DIR, "ill.c");
    // ud2: the instruction x86 reserves for raising #UD, which Linux delivers as SIGILL.
    writeFileSync(src, 'int main(void){ __asm__ volatile("ud2"); return 0; }\n');
    const r = await runKiln(["run", src]);
    assert.equal(r.code, 132, r.stderr);
    assert.match(
      r.stderr,
      /kiln: warning: status 132 is a program killed by SIGILL \(an illegal instruction\)/,
    );
    assert.match(r.stderr, /-march=native/);
    // A plain failure says nothing of the sort.
    const seven = await runKiln(["run", join(DIR, "seven.c")]);
    assert.equal(seven.code, 7);
    assert.doesNotMatch(seven.stderr, /SIGILL/);
  });

  test("the root a program finds is POSIX-shaped: users root and nobody, writable /tmp, /run and /var/lib", async () => {
    const src = join(DIR, "posix.c");
    writeFileSync(
      src,
      [
        "#include <fcntl.h>",
        "#include <grp.h>",
        "#include <pwd.h>",
        "#include <stdio.h>",
        "#include <sys/stat.h>",
        "#include <unistd.h>",
        "int main(void) {",
        '  struct passwd *p = getpwnam("nobody");',
        '  struct group *g = getgrnam("nogroup");',
        "  char l[64] = {0};",
        '  readlink("/var/run", l, sizeof l - 1);',
        "  struct stat st;",
        '  stat("/tmp", &st);',
        '  int w = open("/var/lib/probe", O_CREAT | O_WRONLY, 0644) >= 0;',
        '  printf("nobody=%d nogroup=%d varrun=%s tmp=%o varlib=%d\\n", p ? (int)p->pw_uid : -1,',
        "         g ? (int)g->gr_gid : -1, l, (unsigned)(st.st_mode & 07777), w);",
        "  return 0;",
        "}",
        "",
      ].join("\n"),
    );
    const r = await runKiln(["run", src]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nobody=65534 nogroup=65534 varrun=\/run tmp=1777 varlib=1\r?$/m);
    // The image's own /etc/passwd wins over kiln-init's.
    const passwd = join(DIR, "passwd");
    writeFileSync(passwd, "root:x:0:0:root:/root:/bin/false\nnobody:x:99:99:nobody:/:/bin/false\n");
    const own = await runKiln(["run", src, "--add", `${passwd}:/etc/passwd`]);
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stdout, /^nobody=99 nogroup=65534 /m);
  });

  test("examples/httpd serves a file and /health through a forwarded port", async () => {
    const port = await freePort();
    const name = `httpd-${port}`;
    const r = await runKiln([
      "run",
      join(ROOT, "examples", "httpd"),
      "--kernel",
      "stock",
      "-p",
      `${port}:8080`,
      "-d",
      "--name",
      name,
    ]);
    started.push(name);
    assert.equal(r.code, 0, r.stderr);
    const page = await poll("GET /", () => httpGet(port, "/"));
    assert.equal(page.status, 200);
    assert.match(page.body, /Hello from a kiln unikernel/);
    const health = await poll("GET /health", () => httpGet(port, "/health"));
    assert.deepEqual(JSON.parse(health.body), { status: "ok" });
    const missing = await httpGet(port, "/nope.html");
    assert.equal(missing?.status, 404);
    const stop = await runKiln(["stop", name]);
    assert.equal(stop.code, 0, stop.stderr);
  });

  test("examples/kv keeps its data on a disk across a stop and a new start", async () => {
    const disk = join(DIR, "kv.img");
    rmSync(disk, { force: true });
    execFileSync("truncate", ["-s", "16M", disk]);
    execFileSync("mkfs.ext4", ["-q", "-F", disk]);
    const port = await freePort();
    const start = async (name: string) => {
      const r = await runKiln([
        "run",
        join(ROOT, "examples", "kv"),
        "--kernel",
        "stock",
        "-p",
        `${port}:7000`,
        "-b",
        `${disk},/data`,
        "-d",
        "--name",
        name,
      ]);
      started.push(name);
      assert.equal(r.code, 0, r.stderr);
    };
    await start(`kv-a-${port}`);
    // Poll with a read-only command: a SET retried after a slow answer would be logged twice.
    await poll("KEYS", () => kvSession(port, "KEYS\n"));
    const set = await kvSession(port, "SET city Lyon\nGET city\n");
    assert.equal(set, "OK\nVALUE Lyon\n");
    assert.equal((await runKiln(["stop", `kv-a-${port}`])).code, 0);
    await start(`kv-b-${port}`);
    const get = await poll("GET after restart", () => kvSession(port, "GET city\n"));
    assert.equal(get, "VALUE Lyon\n");
    assert.equal((await runKiln(["stop", `kv-b-${port}`])).code, 0);
    // The data is on the disk itself: Debian's debugfs reads the log back.
    const log = execFileSync("debugfs", ["-R", "cat /kv.log", disk], {
      stdio: ["ignore", "pipe", "ignore"],
    }).toString();
    assert.equal(log, "SET city Lyon\n");
  });

  test("a target that does not exist, or that kiln cannot build, is a clear error", async () => {
    const r = await runKiln(["run", join(DIR, "nope")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /KILN_ETARGET_NOT_FOUND: .*"\S*nope"/);
    const empty = join(DIR, "empty");
    mkdirSync(empty, { recursive: true });
    const e = await runKiln(["run", empty]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /KILN_ETARGET_UNKNOWN/);
    assert.match(e.stderr, /hint: /);
  });
});
