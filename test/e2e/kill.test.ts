// kill -9 at chosen points of bake, image and push (KILN_TEST_PAUSE_AT, or a host tool that stops itself
// while kiln waits for it), then the same command again: it succeeds, `kiln store verify` is clean, and
// after `kiln gc` nothing of the killed run is left: not beside the output, not in KILN_HOME, not in the
// system tmpdir (each run here has its own TMPDIR), and no process it started. An attached QEMU dies
// with its kiln; a detached one does not.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KILN, poll, runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";
import { bakeImage, qemuProcesses } from "./launchFixture.js";
import { helloImage, type Registry, startRegistry } from "./ociFixture.js";

const work = tmpDir("kiln-kill-");
const tools = join(work.path, "bin");
let reg: Registry | undefined;
let n = 0;
const stopVar = (tool: string) => `KILN_TEST_STOP_${tool.toUpperCase().replace(/-/g, "_")}`;

before(() => {
  // Host tools that stop themselves on their first run once KILN_TEST_STOP_<TOOL> names a directory to
  // create (mkdir: exactly one run claims it), then carry on as the real tool when continued.
  mkdirSync(tools, { recursive: true });
  for (const name of ["objcopy", "qemu-img", "gcc"]) {
    const v = `$${stopVar(name)}`;
    writeFileSync(
      join(tools, name),
      `#!/bin/sh\nif [ -n "${v}" ] && mkdir "${v}" 2>/dev/null; then\n` +
        `  echo $$ > "${v}/pid"; kill -STOP $$\nfi\nexec /usr/bin/${name} "$@"\n`,
    );
    chmodSync(join(tools, name), 0o755);
  }
});
after(async () => {
  await reg?.stop();
  for (const p of qemuProcesses(work.path)) process.kill(p.pid, "SIGKILL");
  work.cleanup();
});

/** pid → parent pid, from /proc. */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/stat`, "utf8");
      m.set(Number(e), Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  return m;
}

function descendants(pid: number): number[] {
  const ppid = parents();
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of ppid) {
      if (pp === p) {
        out.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return out;
}

/** The state letter of a process, or undefined once it is gone. A zombie (Z) is dead too. */
function state(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s[s.lastIndexOf(")") + 2];
  } catch {
    return undefined;
  }
}
const running = (pid: number) => ![undefined, "Z"].includes(state(pid));

type At = { point: string } | { tool: string; stop: string };

/**
 * Run kiln until it reaches `at` (its KILN_TEST_PAUSE_AT marker on stderr, or a tool stopped in the
 * directory `stop`), then SIGKILL it. Returns its pid and the processes it had started.
 */
async function killAt(
  args: string[],
  env: NodeJS.ProcessEnv,
  at: At,
): Promise<{ pid: number; tree: number[] }> {
  const hook = "point" in at ? { KILN_TEST_PAUSE_AT: at.point } : { [stopVar(at.tool)]: at.stop };
  const kiln = spawn(process.execPath, [KILN, ...args], {
    env: { ...process.env, ...env, ...hook },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  let exited = false;
  kiln.stderr.setEncoding("utf8").on("data", (b) => (stderr += b));
  const gone = new Promise((r) => kiln.on("exit", r));
  kiln.on("exit", () => (exited = true));
  await poll(
    `kiln ${args[0]} reaching ${JSON.stringify(at)}`,
    () => {
      if (exited) throw new Error(`kiln exited first: ${stderr}`);
      if ("point" in at) return stderr.includes(`KILN_TEST_PAUSED ${at.point}\n`) ? true : undefined;
      const pidFile = join(at.stop, "pid");
      return existsSync(pidFile) && state(Number(readFileSync(pidFile, "utf8"))) === "T" ? true : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 50, retryErrors: false },
  );
  const tree = descendants(kiln.pid!);
  if ("stop" in at) assert.ok(tree.includes(Number(readFileSync(join(at.stop, "pid"), "utf8"))));
  kiln.kill("SIGKILL");
  await gone;
  return { pid: kiln.pid!, tree };
}

/** Names under `dir` (not following symlinks, not inside stored trees) that carry `pid` as a scratch owner. */
function leftovers(dir: string, pid: number): string[] {
  const out: string[] = [];
  const re = new RegExp(`[.-](tmp|kiln|part|blob|op|stale)-${pid}-`);
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (re.test(e.name)) out.push(p);
      else if (e.isDirectory() && !(d.endsWith("/store/trees") && !e.name.startsWith("."))) walk(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

interface Scenario {
  args: string[];
  at: At | ((stop: string) => At);
  /** KILN_HOME (default: the shared one) and other variables for every run. */
  env?: NodeJS.ProcessEnv;
  /** The output's directory and what it holds in the end. */
  out?: { dir: string; expect: string[] };
}

/** Kill, check the kill left something, rerun, verify, gc; then nothing of the killed run may remain. */
async function killThenRerun(s: Scenario): Promise<{ stdout: string }> {
  const id = n++;
  const tmp = join(work.path, `tmp-${id}`);
  mkdirSync(tmp);
  const home = s.env?.KILN_HOME ?? sharedHome();
  const env = { ...s.env, KILN_HOME: home, TMPDIR: tmp };
  const at = typeof s.at === "function" ? s.at(join(work.path, `stop-${id}`)) : s.at;
  const killed = await killAt(s.args, env, at);
  const places = [...(s.out ? [s.out.dir] : []), home, join(home, "store"), tmp];
  const debris = [...places.flatMap((d) => leftovers(d, killed.pid)), ...readdirSync(tmp)];
  const stopped = "stop" in at;
  assert.ok(stopped || debris.length > 0, "the kill left something behind (else this case tests nothing)");

  await poll("the killed kiln's processes to die", () => (killed.tree.some(running) ? undefined : true), {
    timeoutMs: 5000,
    intervalMs: 50,
  }).catch(() => {
    const alive = killed.tree.filter(running);
    for (const p of alive) process.kill(p, "SIGKILL");
    assert.fail(`processes of the killed kiln still run: ${alive.join(" ")}`);
  });

  const again = await runKiln([...s.args, "--json"], { home, env });
  assert.equal(again.code, 0, `the rerun failed: ${again.stderr}`);
  const verify = await runKiln(["store", "verify", "--json"], { home, env });
  assert.equal(verify.code, 0, verify.stderr);
  assert.deepEqual(JSON.parse(verify.stdout).problems, []);
  // An enormous grace: only what killed kilns left goes, not what other tests stored.
  const gc = await runKiln(["gc", "--grace", "1000000", "--json"], { home, env });
  assert.equal(gc.code, 0, gc.stderr);

  if (s.out) assert.deepEqual(readdirSync(s.out.dir).sort(), s.out.expect, "the output's directory");
  assert.deepEqual(
    places.flatMap((d) => leftovers(d, killed.pid)),
    [],
    "nothing named for the killed kiln remains",
  );
  assert.deepEqual(readdirSync(tmp), [], "nothing in the system tmpdir");
  return { stdout: again.stdout };
}

describe("bake killed with SIGKILL", () => {
  it("after writing the image, before moving it in: the rerun removes the half-made image", async () => {
    const out = join(work.path, "bake-1");
    mkdirSync(out);
    await killThenRerun({
      args: ["bake", "qemu", join(out, "img"), await helloProgram()],
      at: { point: "bake:image-written" },
      out: { dir: out, expect: ["img"] },
    });
  });

  it("between moving the old image aside and the new one in: nothing is lost", async () => {
    const out = join(work.path, "bake-2");
    mkdirSync(out);
    const args = ["bake", "qemu", join(out, "img"), await helloProgram()];
    assert.equal((await runKiln(args)).code, 0);
    await killThenRerun({
      args,
      at: { point: "atomic:old-moved-aside" },
      out: { dir: out, expect: ["img"] },
    });
    assert.ok(existsSync(join(out, "img", "manifest.json")));
  });

  it("while the compiler builds kiln-init: the compiler dies too", async () => {
    // A KILN_HOME of its own (so kiln-init is not cached) whose toolchain runs over the stopping gcc;
    // the kernel and the store are the shared ones.
    const home = join(work.path, "home-bake");
    mkdirSync(home);
    for (const d of ["components", "store"]) symlinkSync(join(sharedHome(), d), join(home, d));
    const tc = await runKiln(["toolchain", "--cc", join(tools, "gcc"), "--quiet"], { home });
    assert.equal(tc.code, 0, tc.stderr);
    const out = join(work.path, "bake-3");
    mkdirSync(out);
    await killThenRerun({
      args: ["bake", "qemu", join(out, "img"), await helloProgram()],
      at: (stop) => ({ tool: "gcc", stop }),
      env: { KILN_HOME: home },
      out: { dir: out, expect: ["img"] },
    });
  });
});

describe("image killed with SIGKILL", () => {
  let image = "";
  before(async () => {
    image = await helloImage();
  });
  const qcow2 = (at: Scenario["at"]) => {
    const out = join(work.path, `image-${n}`);
    mkdirSync(out);
    return killThenRerun({
      args: ["image", "qcow2", image, "-o", join(out, "hello.qcow2")],
      at,
      env: { PATH: `${tools}:${process.env.PATH}` },
      out: { dir: out, expect: ["hello.qcow2"] },
    });
  };

  it("while objcopy makes the unified kernel image: objcopy dies too", () =>
    qcow2((stop) => ({ tool: "objcopy", stop })));
  it("while qemu-img converts the disk: qemu-img dies too", () =>
    qcow2((stop) => ({ tool: "qemu-img", stop })));

  it("after writing the disk, before moving it in", () => qcow2({ point: "launchable:written" }));
});

describe("push killed with SIGKILL", () => {
  let image = "";
  before(async () => {
    image = await helloImage();
    reg = await startRegistry(join(work.path, "registry"));
  });
  const digests: string[] = [];
  const push = async (point: string) => {
    const { stdout } = await killThenRerun({
      // A repository per case: the blobs are not there yet, so every point is reached.
      args: ["push", image, `${reg!.host}/kill/p${n}:1`],
      at: { point },
    });
    digests.push((JSON.parse(stdout) as { digest: string }).digest);
  };

  it("after making the OCI archive, before the upload", () => push("push:archive-written"));
  it("with a blob upload started", () => push("registry:upload-started"));
  it("with the manifest up, before the tag", async () => {
    await push("push:manifest-put");
    assert.equal(new Set(digests).size, 1, "every rerun pushed the same manifest");
  });
});

describe("launch killed with SIGKILL", () => {
  it("takes an attached QEMU along; a detached one keeps running", async () => {
    const plane = bakeImage(work.path, "plane");
    const home = join(work.path, "home-launch");
    const kiln = spawn(process.execPath, [KILN, "launch", "qemu", plane], {
      env: { ...process.env, KILN_HOME: home },
      stdio: "ignore",
    });
    const [qemu] = await poll("QEMU to start", () => {
      const q = qemuProcesses(plane).filter((p) => descendants(kiln.pid!).includes(p.pid));
      return q.length ? q : undefined;
    });
    kiln.kill("SIGKILL");
    await poll("the attached QEMU to die", () => (running(qemu!.pid) ? undefined : true), {
      timeoutMs: 5000,
    });

    const d = await runKiln(["launch", "qemu", "-d", "--name", "kept", plane], { home });
    assert.equal(d.code, 0, d.stderr);
    const [daemon] = qemuProcesses(plane).filter((p) => running(p.pid));
    assert.ok(daemon, "the detached QEMU runs after kiln exited");
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(running(daemon.pid));
    assert.equal((await runKiln(["stop", "kept"], { home })).code, 0);
    rmSync(home, { recursive: true, force: true });
  });
});
