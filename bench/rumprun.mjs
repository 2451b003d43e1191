// kiln against Rumprun, rerunnable by anyone: the same hello and HTTP server, Rumprun's baked as upstream
// builds them (kiln never builds Rumprun), kiln's with the stock and the specialized kernel. Columns:
// Rumprun / kiln stock / kiln specialized; rows: bake of hello (nothing changed, which kiln's memo answers:
// src/bake/bakeMemo.ts), the same with the program touched (a whole bake), QEMU start -> hello's line, QEMU start ->
// first HTTP 200, kiln launch -> hello's line (kiln's columns: what a user waits for, node and kiln included),
// the two QEMU rows again with --cold, image size, smallest memory that boots hello. kiln's QEMU rows restore
// the image's saved boot state, made by one launch before the rounds, as every launch after a user's first
// does; the --cold rows boot from the kernel up, as Rumprun does. The QEMU rows run the very command `kiln launch` runs
// (from --dry-run, without its QMP socket and pid file), kiln-init and all: bench/specialized-boot.mjs boots
// a bare test /init on its own QEMU line, so its figure is the kernel's floor, not a user's. Runs are
// interleaved (one of each column, then the next round), each round waits for a quiet host (1-minute load
// average below --load-below, at most --load-wait seconds) and the load is printed; times are medians
// (min-max). Rumprun boots exactly as its launcher starts it on QEMU (`rumprun qemu`: -kernel X.bin, serial
// console, no VGA), under the accelerator kiln picks. Without --hello/--httpd, kiln's columns alone.
//
//   node bench/rumprun.mjs [--hello hello.bin] [--httpd httpd.bin] [--runs 5]
//     [--rumprun-bake "rumprun-bake hw_virtio /tmp/hello.bin hello"]  (timed as the Rumprun bake)
//     [--hello-line REGEX] (Rumprun's hello's line; default "Hello")
//     [--httpd-port 80] [--httpd-path /] [--hello-append JSON] [--httpd-append JSON] (Rumprun's configuration,
//     default: DHCP on vioif0) [--no-specialized] [--load-below 0.7] [--load-wait 120]
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  ENV,
  freePort,
  HOME,
  helloSetup,
  httpdImage,
  KILN,
  KILN_BIN,
  kiln,
  median,
  qemuCommand,
  quietHost,
  smallestMemory,
  spread,
  timeSync,
  timeToAnswer,
  timeToLine,
  touchedBake,
} from "./lib.mjs";

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const runs = Number(opt("runs", "5"));
const rump = { hello: opt("hello"), httpd: opt("httpd"), bake: opt("rumprun-bake") };
const helloLine = new RegExp(opt("hello-line", "Hello"));
const rumpPort = Number(opt("httpd-port", "80"));
const rumpPath = opt("httpd-path", "/");
const dhcp = '{"net":{"if":"vioif0","type":"inet","method":"dhcp"}}';
const gate = { below: Number(opt("load-below", "0.7")), timeoutMs: Number(opt("load-wait", "120")) * 1000 };
const kinds = ["stock", ...(argv.includes("--no-specialized") ? [] : ["specialized"])];

const work = join(HOME, "bench-rumprun");
const hello = helloSetup(work);
const images = {};
const httpd = {};
const touchedBakeOf = touchedBake(hello, work);
for (const kind of kinds) {
  images[kind] = join(work, `hello-${kind}`);
  // The specialized kernel is built once if missing (minutes); every later bake is warm.
  kiln(["bake", "qemu", images[kind], hello, "--kernel", kind, "--quiet", "--force"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  httpd[kind] = httpdImage(kind, `bench-rumprun-${kind}`, await freePort());
  // The first launch of an image saves its boot state (src/launch/bootState.ts); the timed rows restore it,
  // as every later launch of a user's does. The --cold rows boot from the kernel up.
  kiln(["launch", "qemu", "--rm", images[kind]], { stdio: ["ignore", "ignore", "inherit"] });
}

const accel = qemuCommand(images.stock).accel;
/** Rumprun's QEMU, as `rumprun qemu` starts it: multiboot -kernel, no VGA so that it writes to COM1. */
function rumpQemu(bin, memory, extra = [], append = undefined) {
  const cmd = ["qemu-system-x86_64", "-M", "pc", "-accel", accel, "-m", String(memory), "-nodefaults"];
  cmd.push("-no-user-config", "-vga", "none", "-display", "none", "-serial", "stdio", "-no-reboot");
  cmd.push("-kernel", bin, ...(append ? ["-append", append] : []), ...extra);
  return cmd;
}
const hostfwd = (port, guest) => [
  "-netdev",
  `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:${guest}`,
  "-device",
  "virtio-net-pci,netdev=n0",
];

// Columns: what each measures, per row; undefined where a column has nothing to measure.
const columns = [
  {
    name: "Rumprun",
    bake: rump.bake ? () => timeSync("sh", ["-c", rump.bake]) : undefined,
    hello: rump.hello
      ? () => {
          const c = rumpQemu(rump.hello, 64, [], opt("hello-append"));
          return timeToLine(c[0], c.slice(1), helloLine);
        }
      : undefined,
    http: rump.httpd
      ? async () => {
          const port = await freePort();
          const c = rumpQemu(rump.httpd, 128, hostfwd(port, rumpPort), opt("httpd-append", dhcp));
          return timeToAnswer(c, port, rumpPath);
        }
      : undefined,
  },
  ...kinds.map((kind) => ({
    name: `kiln ${kind}`,
    bake: () => timeSync(KILN_BIN, ["bake", "qemu", images[kind], hello, "--kernel", kind, "--quiet"]),
    bakeTouched: () => touchedBakeOf(`${images[kind]}-touched`, ["--kernel", kind]),
    hello: () => {
      const { cmd } = qemuCommand(images[kind]);
      return timeToLine(cmd[0], cmd.slice(1), /Hello from kiln!/);
    },
    helloCold: () => {
      const { cmd } = qemuCommand(images[kind], ["--cold"]);
      return timeToLine(cmd[0], cmd.slice(1), /Hello from kiln!/);
    },
    // What a user waits for: node starting, kiln checking the image and starting QEMU, then the boot.
    launch: () => timeToLine(KILN_BIN, ["launch", "qemu", "--rm", images[kind]], /Hello from kiln!/),
    http: async () => {
      const port = await freePort();
      const { cmd } = qemuCommand(httpd[kind], ["-p", `${port}:8080`]);
      return timeToAnswer(cmd, port, "/health");
    },
    httpCold: async () => {
      const port = await freePort();
      const { cmd } = qemuCommand(httpd[kind], ["-p", `${port}:8080`, "--cold"]);
      return timeToAnswer(cmd, port, "/health");
    },
  })),
];
const rows = [
  ["bake of hello", "bake"],
  // Rumprun bakes in full every time: its figure for this is its bake's.
  ["bake of hello, program touched", "bakeTouched", "bake"],
  ["QEMU start -> hello's line", "hello"],
  ["QEMU start -> first HTTP 200", "http"],
  ["kiln launch -> hello's line", "launch"],
  // Rumprun has no saved state: its figure for these is the one of the row named third.
  ["QEMU start -> hello's line, --cold", "helloCold", "hello"],
  ["QEMU start -> first HTTP 200, --cold", "httpCold", "http"],
];
// The floor of any kiln command: Node starting and doing nothing, in the same rounds.
const floor = [];
const results = rows.map(() => columns.map(() => []));
const loads = [];
for (let r = 0; r < runs; r++) {
  loads.push(await quietHost(gate));
  floor.push(timeSync(process.execPath, ["-e", ""]));
  for (const [ri, [, key]] of rows.entries()) {
    for (const [ci, col] of columns.entries()) {
      if (col[key]) results[ri][ci].push(await col[key]());
    }
  }
}

// Sizes and memory: deterministic, measured once.
const mib = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;
const kilnSize = (dir) => {
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  return m.kernel.size + m.initrd.size;
};
const sizes = columns.map((_col, ci) =>
  ci === 0
    ? [rump.hello, rump.httpd].map((f) => (f ? mib(statSync(f).size) : "-")).join(" / ")
    : [images, httpd].map((set) => mib(kilnSize(set[kinds[ci - 1]]))).join(" / "),
);
const memory = [];
for (const [ci] of columns.entries()) {
  if (ci === 0) {
    memory.push(
      rump.hello
        ? await smallestMemory(async (m) => {
            const c = rumpQemu(rump.hello, m, [], opt("hello-append"));
            return timeToLine(c[0], c.slice(1), helloLine, { timeoutMs: 20_000 }).then(
              () => true,
              () => false,
            );
          })
        : Number.NaN,
    );
  } else {
    const image = images[kinds[ci - 1]];
    memory.push(
      await smallestMemory(async (m) => {
        // --cold: each size is a machine shape of its own, whose saved state would push the timed ones out.
        const r = spawnSync(
          process.execPath,
          [KILN, "launch", "qemu", "--rm", "--cold", "-M", String(m), image],
          {
            env: ENV,
            encoding: "utf8",
            timeout: 60_000,
          },
        );
        return r.status === 0 && /kiln: exit 0/.test(r.stdout);
      }),
    );
  }
}
// What -M defaults to for each image (src/launch/imageMemory.ts), to set against the smallest.
const defaults = columns.map((_, ci) => {
  if (ci === 0) return "";
  const { cmd } = qemuCommand(images[kinds[ci - 1]]);
  return ` (default ${cmd[cmd.indexOf("-m") + 1]})`;
});

const width = 34;
const cell = 30;
console.log(
  `accelerator ${accel}; ${runs} interleaved rounds; 1-min load per round: ${loads.map((l) => l.toFixed(2)).join(", ")} (gate < ${gate.below})`,
);
console.log(`${"".padEnd(width)}${columns.map((c) => c.name.padEnd(cell)).join("")}`);
for (const [ri, [label]] of rows.entries()) {
  console.log(`${label.padEnd(width)}${results[ri].map((xs) => spread(xs).padEnd(cell)).join("")}`);
}
console.log(`${"image size (hello / httpd)".padEnd(width)}${sizes.map((s) => s.padEnd(cell)).join("")}`);
console.log(
  `${"smallest memory booting hello".padEnd(width)}${memory
    .map((m, i) => `${Number.isNaN(m) ? "-" : `${m} MiB`}${defaults[i]}`.padEnd(cell))
    .join("")}`,
);
const nodeFloor = median(floor);
console.log(`baseline: node -e '' ${spread(floor)}`);
for (const [ci, col] of columns.entries()) {
  const [b, touched] = [results[0][ci], results[1][ci]];
  if (ci > 0 && b.length)
    console.log(
      `  ${col.name} bake: ${(median(b) / nodeFloor).toFixed(2)}x node -e '' (program touched: ${(median(touched) / nodeFloor).toFixed(2)}x)`,
    );
}
if (rump.hello || rump.bake || rump.httpd) {
  for (const [ri, [label, , against]] of rows.entries()) {
    const base = results[against ? rows.findIndex(([, k]) => k === against) : ri][0];
    if (!base.length) continue;
    const ratios = columns
      .slice(1)
      .map((c, i) => `${c.name} ${(median(results[ri][i + 1]) / median(base)).toFixed(2)}x`);
    console.log(`  ${label}, against Rumprun: ${ratios.join(", ")}`);
  }
}
