// QEMU start to the first successful HTTP answer from examples/httpd (user networking, a forwarded port),
// for the stock kernel and, with --specialized, the specialized one; the QEMU command is the one kiln
// runs (`kiln launch --dry-run`). Reference: the real Rumprun's baked HTTP server answers 550 ms after QEMU
// starts on these machines (field notes). Usage: node bench/net.mjs [runs] [--specialized]
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { freePort, HOME, httpdImage, kiln, repeat, row, timeToAnswer } from "./lib.mjs";

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
const kinds = ["stock", ...(process.argv.includes("--specialized") ? ["specialized"] : [])];

for (const kernel of kinds) {
  const port = await freePort();
  const name = `bench-net-${kernel}`;
  const image = httpdImage(kernel, name, port);
  const plan = JSON.parse(
    kiln(["launch", "qemu", "--dry-run", "--json", "--name", name, "-p", `${port}:8080`, image]),
  );
  const dir = join(HOME, "machines", name);
  const xs = await repeat(runs, async () => {
    mkdirSync(dir, { recursive: true });
    const ms = await timeToAnswer(plan.command, port, "/health");
    rmSync(dir, { recursive: true, force: true });
    return ms;
  });
  row(`${kernel} kernel: QEMU start -> GET /health 200 (${plan.accel})`, xs);
}
console.log("targets: stock < 2600 ms; specialized <= 550 ms (Rumprun's HTTP server)");
