// kiln launch qemu, attached: real QEMU (KVM where it boots Linux, else software emulation) booting images
// baked with kiln-init (see launchFixture.ts). Each boot takes about 2 s under TCG, so each test boots once.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort, KILN, runKiln } from "../helpers.js";
import { bakeImage, qemuProcesses } from "./launchFixture.js";

const work = mkdtempSync(join(tmpdir(), "kiln-launch-"));
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

const kiln = (args: string[]) => runKiln(args, { home });
/** An ext4 disk image holding one file (mkfs.ext4 -d fills it without mounting anything). */
function ext4With(name: string, file: string, content: string): string {
  const dir = join(work, `${name}.d`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), content);
  const img = join(work, `${name}.img`);
  writeFileSync(img, "");
  truncateSync(img, 8 << 20);
  execFileSync("mkfs.ext4", ["-q", "-F", "-d", dir, img], { stdio: "ignore" });
  return img;
}

describe("kiln launch qemu (attached)", () => {
  it("shows the program's console and exits 0; -e and -- ARGS reach the program", async () => {
    const r = await kiln(["launch", "qemu", "-e", "GREETING=Howdy", hello, "--", "a", "b c"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Howdy from kiln!\r?$/m);
    assert.match(r.stdout, /^argv\[1\] = a\r?$/m);
    assert.match(r.stdout, /^argv\[2\] = b c\r?$/m);
    assert.match(r.stdout, /^kiln: exit 0\r?$/m);
  });

  it("exits with the program's status; a configuration too big for the command line and disks reach it", async () => {
    const d1 = ext4With("one", "f", "one\n");
    const d2 = ext4With("two", "g", "two\n");
    const big = "x".repeat(1800);
    const r = await kiln([
      "launch",
      "qemu",
      "--rm",
      "--name",
      "big",
      "-e",
      "PROBE_EXIT=7",
      "-e",
      `BIG=${big}`,
      "-e",
      "PROBE_CAT=/data/f:/logs/g",
      "-b",
      `${d1},/data`,
      "-b",
      `${d2},/logs,ro`,
      probe,
    ]);
    assert.equal(r.code, 7, r.stderr + r.stdout);
    assert.match(r.stdout, /^kiln: exit 7\r?$/m);
    // The environment went through the initrd segment (1800 bytes cannot go on the command line).
    assert.match(r.stdout, /^probe: BIG has 1800 bytes\r?$/m);
    // Disks are mounted where -b said, in order: the first -b is the guest's vda.
    assert.match(r.stdout, /^probe: \/data\/f = one\r?$/m);
    assert.match(r.stdout, /^probe: \/logs\/g = two\r?$/m);
    const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string }[];
    assert.ok(!ps.some((m) => m.name === "big"), "--rm leaves no machine behind");
  });

  it("q35: the same image on a PC machine, its NIC and disk on PCI (virtio-*-pci), the PVH kernel still direct", async () => {
    const d = ext4With("q35", "f", "on pci\n");
    const port = String(await freePort());
    const r = await kiln([
      "launch",
      "qemu",
      "--rm",
      "--machine",
      "q35",
      "-p",
      `${port}:80`,
      "-e",
      "PROBE_CAT=/data/f",
      "-b",
      `${d},/data`,
      probe,
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^kiln: net eth0 10\.0\.2\.15\/24 up\r?$/m);
    assert.match(r.stdout, /^probe: \/data\/f = on pci\r?$/m);
    const dry = JSON.parse(
      (await kiln(["launch", "qemu", "--dry-run", "--json", "--machine", "q35", "-p", `${port}:80`, probe]))
        .stdout,
    ) as {
      command: string[];
    };
    assert.ok(
      dry.command.some((a) => a.startsWith("virtio-net-pci")),
      dry.command.join(" "),
    );
    assert.match(dry.command[dry.command.indexOf("-kernel") + 1]!, /\/cache\/kernels\/[0-9a-f]{64}\.elf$/);
  });

  it("passes standard input to the guest console with -i", async () => {
    const child = spawn(
      process.execPath,
      [KILN, "launch", "qemu", "--rm", "-i", "-e", "PROBE_STDIN=1", probe],
      {
        env: { ...process.env, KILN_HOME: home },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (b) => {
      out += b;
      // Type only once the program runs: a serial line nobody has opened yet drops what it receives.
      if (/probe: hello/.test(out) && child.stdin.writable) child.stdin.end("typed-line\n");
    });
    const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
    assert.equal(code, 0, out);
    assert.match(out, /^probe: stdin = typed-line\r?$/m);
  });

  it("stops the machine on Ctrl-C and exits 130, leaving no QEMU behind", async () => {
    const child = spawn(process.execPath, [KILN, "launch", "qemu", "--keep", "--name", "sig", plane], {
      env: { ...process.env, KILN_HOME: home },
      stdio: ["ignore", "pipe", "pipe"],
    });
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
    assert.equal(qemuProcesses(plane).length, 1);
    child.kill("SIGINT");
    assert.equal(await exited, 130);
    assert.deepEqual(qemuProcesses(plane), []);
    const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as {
      name: string;
      state: string;
      reason: string;
    }[];
    const sig = ps.find((m) => m.name === "sig");
    assert.deepEqual([sig?.state, sig?.reason], ["exited", "stopped"]);
  });

  it("reports a machine that dies without an exit status (kernel panic) as crashed", async () => {
    // The hello image with an initrd the kernel cannot unpack: no /init, "Unable to mount root fs", panic.
    // The manifest describes that initrd: launch refuses an image whose parts differ from its manifest.
    const broken = join(work, "broken");
    mkdirSync(broken);
    const initrd = Buffer.alloc(4096);
    const m = JSON.parse(readFileSync(join(hello, "manifest.json"), "utf8"));
    m.initrd = {
      ...m.initrd,
      sha256: createHash("sha256").update(initrd).digest("hex"),
      size: initrd.length,
    };
    writeFileSync(join(broken, "manifest.json"), JSON.stringify(m));
    copyFileSync(join(hello, "kernel"), join(broken, "kernel"));
    writeFileSync(join(broken, "initrd"), initrd);
    const r = await kiln(["launch", "qemu", "--keep", "--name", "crash", broken]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Kernel panic/);
    assert.match(
      r.stderr,
      /error KILN_EMACHINE_CRASHED: Machine "crash" stopped without reporting an exit status/,
    );
    assert.match(r.stderr, /hint: .*kiln logs crash/);
    const ps = JSON.parse((await kiln(["ps", "--json"])).stdout) as { name: string; reason?: string }[];
    assert.equal(ps.find((m) => m.name === "crash")?.reason, "crashed");
    assert.deepEqual(qemuProcesses(broken), []);
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
        [["launch", "qemu", "-M", "0", hello], 2, "KILN_EBAD_MEMORY", /"0"/],
        [["launch", "qemu", "-b", join(work, "nope.img"), hello], 2, "KILN_EDISK_NOT_FOUND", /nope\.img/],
        [["launch", "vbox", hello], 2, "KILN_EBACKEND_UNKNOWN", /"vbox"/],
        [["launch", "qemu", "-d", "-i", hello], 2, "KILN_EOPTION_CONFLICT", /-d/],
        [["launch", "qemu", "-p", "8080:80", "-p", "8080:81", hello], 2, "KILN_EOPTION_CONFLICT", /8080/],
        [["launch", "qemu", "-p", `${port}:80`, hello], 1, "KILN_EPORT_IN_USE", new RegExp(`${port}`)],
        [["launch", "qemu", "-e", "1BAD=x", hello], 2, "KILN_EBAD_ENV", /1BAD/],
      ];
      for (const [args, code, err, msg] of cases) {
        const r = await kiln(args);
        assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, new RegExp(`error ${err}: `), args.join(" "));
        const line = r.stderr.split("\n")[0] ?? "";
        assert.match(line, msg, args.join(" "));
        assert.match(r.stderr, /hint: \S/);
      }
      const j = await kiln(["launch", "qemu", "--json", "-M", "0", hello]);
      assert.equal(JSON.parse(j.stdout).error.code, "KILN_EBAD_MEMORY");
    } finally {
      busy.close();
    }
    assert.deepEqual(qemuProcesses(work), []);
    assert.deepEqual(await names(), before, "failed launches leave no machine state");
  });
});
