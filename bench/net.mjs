// QEMU start to the first successful HTTP answer from examples/httpd (user networking, a forwarded port),
// for the stock kernel and, with --specialized, the specialized one; the QEMU command is the one kiln
// runs (`kiln launch --dry-run`). Reference: the real Rumprun's baked HTTP server answers 550 ms after QEMU
// starts on these machines (field notes). Usage: node bench/net.mjs [runs] [--specialized]
import { spawn } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { HOME, kiln, ROOT, repeat, row } from "./lib.mjs";

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
const kinds = ["stock", ...(process.argv.includes("--specialized") ? ["specialized"] : [])];

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });

/** Start QEMU, poll GET /health until it answers (user networking accepts before the guest listens). */
async function timeToAnswer(cmd, port) {
  const t = performance.now();
  const child = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
  try {
    for (;;) {
      if (performance.now() - t > 60_000) throw new Error("no HTTP answer within 60 s");
      try {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), 100); // a connect that slirp accepted early hangs: retry soon
        const r = await fetch(`http://127.0.0.1:${port}/health`, { signal: ac.signal });
        clearTimeout(timer);
        if (r.ok) return performance.now() - t;
      } catch {}
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.on("close", r));
  }
}

for (const kernel of kinds) {
  const port = await freePort();
  const name = `bench-net-${kernel}`;
  try {
    kiln(["rm", "-f", name], { stdio: "ignore" }); // a machine left by an interrupted run
  } catch {}
  const started = JSON.parse(
    kiln(
      [
        "run",
        join(ROOT, "examples", "httpd"),
        "--kernel",
        kernel,
        "-d",
        "--json",
        "--name",
        name,
        "-p",
        `${port}:8080`,
      ],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    ),
  );
  kiln(["rm", "-f", name]);
  const plan = JSON.parse(
    kiln(["launch", "qemu", "--dry-run", "--json", "--name", name, "-p", `${port}:8080`, started.image]),
  );
  const dir = join(HOME, "machines", name);
  const xs = await repeat(runs, async () => {
    mkdirSync(dir, { recursive: true });
    const ms = await timeToAnswer(plan.command, port);
    rmSync(dir, { recursive: true, force: true });
    return ms;
  });
  row(`${kernel} kernel: QEMU start -> GET /health 200 (${plan.accel})`, xs);
}
console.log("targets: stock < 2600 ms; specialized <= 550 ms (Rumprun's HTTP server)");
