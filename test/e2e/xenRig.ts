// The Xen test rig: real Xen 4.17 from Debian, nested under QEMU's software emulation, booted from kiln's own
// xen-host image (Xen + Debian's generic kernel as dom0 + Xen's toolstack run by kiln-init), with the
// agent (test/fixtures/xen/agent.c) as its main program. The host's root is shared into dom0 over 9p, and
// the agent runs commands chrooted into it: so the tests run this checkout's real `kiln` (and the host's
// xl, xenstore tools and hotplug scripts) inside dom0, against dom0's xenstored and Xen itself.
//
// One boot serves every Xen test of a run: the first test file to need the rig launches it detached under
// a fixed name and a lock; later files (and concurrent ones) find it running and reuse it. scripts/test.mjs
// stops it when the run ends. The image is baked once per set of inputs, cached by their digest.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { KILN, ROOT, runKiln, sharedHome } from "../helpers.js";
import { kilnCc } from "./launchFixture.js";

export const RIG_NAME = "xen-rig";
/** SIGILL, SIGBUS, SIGSEGV: node killed by the CPU, not by kiln. */
const NODE_FAULTS = new Set([4, 7, 11]);
const AGENT_SRC = join(ROOT, "test", "fixtures", "xen", "agent.c");
/** dom0 gets half; the rest is for guests (a PVH hello, an HVM guest and its stub domain at once). */
const RIG_MEMORY = "4096";

export interface RigResult {
  code: number;
  output: string;
  /** The signal that killed the program, if one did (its code is then 128 + signal, as a shell reports). */
  signal?: number;
}

export interface Rig {
  port: number;
  /** Run argv chrooted into the host's root inside dom0 (cwd and env as given; PATH is set). */
  run(
    argv: string[],
    opts?: { cwd?: string; env?: Record<string, string>; timeoutS?: number },
  ): Promise<RigResult>;
  /** `kiln ARGS` in dom0: this checkout's kiln, with the shared test KILN_HOME. */
  kiln(args: string[], opts?: { timeoutS?: number; env?: Record<string, string> }): Promise<RigResult>;
  /** The host directory the rig's state lives in. */
  dir: string;
}

function digest(paths: string[]): string {
  const h = createHash("sha256");
  for (const p of paths) h.update(p).update(readFileSync(p));
  return h.digest("hex").slice(0, 16);
}

/** The rig image: baked once per agent, catalogue, kiln-init and kiln build. */
function rigImage(dir: string): string {
  const inputs = [
    AGENT_SRC,
    join(ROOT, "data", "platforms.toml"),
    join(ROOT, "data", "components.toml"),
    join(ROOT, "guest", "init.c"),
    join(ROOT, "guest", "config.c"),
    join(ROOT, "dist", "bake", "bake.js"),
  ];
  const image = join(dir, `image-${digest(inputs)}`);
  if (existsSync(join(image, "manifest.json"))) return image;
  const agent = join(dir, "kiln-rig-agent");
  execFileSync(kilnCc(), ["-Os", "-o", agent, AGENT_SRC], { stdio: ["ignore", "pipe", "pipe"] });
  const env = { ...process.env, KILN_HOME: sharedHome() };
  execFileSync(process.execPath, [KILN, "components", "fetch", "--platform", "xen-host", "--quiet"], { env });
  rmSync(image, { recursive: true, force: true });
  execFileSync(process.execPath, [KILN, "bake", "xen-host", image, agent, "--quiet"], { env });
  return image;
}

function request(port: number, fields: string[], onOutput?: (s: string) => void): Promise<RigResult> {
  return new Promise((res, rej) => {
    const body = Buffer.from(fields.map((f) => `${f}\0`).join(""));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length);
    const sock = connect(port, "127.0.0.1");
    let buf = Buffer.alloc(0);
    let output = "";
    let code: number | undefined;
    let signal: number | undefined;
    sock.on("connect", () => sock.write(Buffer.concat([head, body])));
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 5) {
        const len = buf.readUInt32LE(1);
        if (buf.length < 5 + len) break;
        const type = String.fromCharCode(buf[0]!);
        const data = buf.subarray(5, 5 + len);
        buf = buf.subarray(5 + len);
        if (type === "o") {
          const s = data.toString("utf8");
          output += s;
          onOutput?.(s);
        } else if (type === "s") signal = data.readInt32LE(0);
        else if (type === "x") code = data.readInt32LE(0);
      }
    });
    sock.on("error", rej);
    sock.on("close", () =>
      code === undefined
        ? rej(new Error(`rig agent closed the connection (output: ${output})`))
        : res({ code, output, ...(signal === undefined ? {} : { signal }) }),
    );
  });
}

async function agentAnswers(port: number): Promise<boolean> {
  try {
    const r = await request(port, ["/", "10", "PATH=/usr/bin:/bin", "", "true"]);
    return r.code === 0;
  } catch {
    return false;
  }
}

let rig: Promise<Rig> | undefined;

/** The running rig, booted on first use (about a minute under software emulation on a quiet machine). */
export function xenRig(): Promise<Rig> {
  rig ??= startRig();
  return rig;
}

/** Whether the rig's agent still answers (a nested Xen that crashed takes its QEMU, and the agent, along). */
export async function rigAlive(r: Rig): Promise<boolean> {
  return agentAnswers(r.port);
}

/** The last lines of the rig's console (Xen's and dom0's), for a failure's message. */
export async function rigConsoleTail(lines = 60): Promise<string> {
  const log = await runKiln(["logs", RIG_NAME]);
  return log.stdout.split("\n").slice(-lines).join("\n");
}

/** A new rig in place of one that went down: the next xenRig() boots it (startRig removes the old machine). */
export function replaceRig(): Promise<Rig> {
  rig = startRig();
  return rig;
}

async function startRig(): Promise<Rig> {
  const home = sharedHome();
  const dir = join(home, "..", "xen-rig");
  mkdirSync(dir, { recursive: true });
  const portFile = join(dir, "port");
  // Only one process boots the rig; others wait for its port file and a live agent.
  const lock = join(dir, "lock");
  let fd: number | undefined;
  for (const t0 = Date.now(); ; ) {
    if (existsSync(portFile)) {
      const port = Number(readFileSync(portFile, "utf8"));
      if (await agentAnswers(port)) return makeRig(port, dir);
    }
    try {
      fd = openSync(lock, "wx");
      break;
    } catch {
      if (Date.now() - t0 > 600_000) throw new Error("xen rig: another test held the boot lock for 10 min");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    const image = rigImage(dir);
    await runKiln(["rm", "-f", RIG_NAME]);
    const { freePort } = await import("../helpers.js");
    const port = await freePort();
    const r = await runKiln([
      "launch",
      "qemu",
      "-d",
      "--name",
      RIG_NAME,
      "-M",
      RIG_MEMORY,
      "--cpus",
      "2",
      "--share",
      "/:/host:cache",
      "-p",
      `127.0.0.1:${port}:7777`,
      image,
    ]);
    if (r.code !== 0) throw new Error(`xen rig: kiln launch failed: ${r.stdout}${r.stderr}`);
    const t0 = Date.now();
    while (!(await agentAnswers(port))) {
      if (Date.now() - t0 > 600_000) {
        const log = await runKiln(["logs", RIG_NAME]);
        throw new Error(
          `xen rig: the agent did not answer within 10 min; console:\n${log.stdout.slice(-4000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    writeFileSync(portFile, String(port));
    return makeRig(port, dir);
  } finally {
    closeSync(fd!);
    rmSync(lock, { force: true });
  }
}

function makeRig(port: number, dir: string): Rig {
  const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  const run: Rig["run"] = (argv, opts = {}) =>
    request(port, [
      opts.cwd ?? "/",
      String(opts.timeoutS ?? 600),
      `PATH=${PATH}`,
      "HOME=/root",
      ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
      "",
      ...argv,
    ]);
  return {
    port,
    dir,
    run,
    kiln: async (args, opts = {}) => {
      const once = (argv = args) =>
        run([process.execPath, KILN, ...argv], {
          cwd: ROOT,
          env: { KILN_HOME: sharedHome(), ...(opts.env ?? {}) },
          ...(opts.timeoutS ? { timeoutS: opts.timeoutS } : {}),
        });
      // Node itself killed by a fault signal in the nested dom0 (seen about once in 150 runs, before or after
      // the verb's work: V8 under Xen PV under software emulation, never on the host) is the rig's, not the
      // verb's: the agent reports the signal apart from the exit status (a verb that exits 139 is not retried).
      // The verb runs again, after removing a named machine a crashed `launch` may have left.
      for (let attempt = 1; ; attempt++) {
        const r = await once();
        if (r.signal === undefined || !NODE_FAULTS.has(r.signal) || attempt === 3) return r;
        const dmesg = await run(["sh", "-c", "dmesg | grep -E 'segfault|trap|general protection' | tail -3"]);
        process.stderr.write(
          `rig: node died of signal ${r.signal} in dom0 running kiln ${args.join(" ")}; once more\n${dmesg.output}`,
        );
        const name = args.indexOf("--name");
        if (args[0] === "launch" && name > 0) await once(["rm", "-f", args[name + 1]!]);
      }
    },
  };
}
