// examples/router under software emulation, in one invocation:
//  1. size: the router image (kernel plane + Debian's nft and the netfilter modules) against a kernel-plane
//     image without a firewall (same kernel, same legs);
//  2. boot: `kiln launch` start -> `kiln: ready (no program)`, router against that plain plane, interleaved;
//  3. TCP throughput: the client sends MIB mebibytes to the server's netprobe, once over a direct socket link
//     and once through the router (two links, forwarding, conntrack, masquerade), interleaved; the figure is
//     what netprobe measures in the client (connect to the last byte acknowledged by the server's close).
// When the bench home has a specialized kernel for the router platform (`kiln components build router`:
// qemu plus netfilter, minutes once), the router is also baked with it and measured beside the stock one in
// every part; without one, stock only (kiln never builds a kernel implicitly here).
// Usage: node bench/router.mjs [runs] [MiB]
import { spawn } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { HOME, KILN, kiln, median, ROOT, repeat, row, timeToLine } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 5);
const mib = Number(process.argv[3] ?? 16);
const work = join(HOME, "router-bench");
mkdirSync(work, { recursive: true });
kiln(["toolchain", "--quiet"], { stdio: "ignore" });
kiln(["components", "fetch", "--quiet"]);
const cc = join(HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
const netprobe = join(work, "netprobe");
await new Promise((res, rej) =>
  spawn(cc, ["-Os", "-o", netprobe, join(ROOT, "examples", "router", "netprobe.c")], { stdio: "inherit" }).on(
    "close",
    (c) => (c === 0 ? res() : rej(new Error(`cc failed: ${c}`))),
  ),
);
const ex = join(ROOT, "examples", "router");
const bake = (out, args, kernel) =>
  JSON.parse(
    kiln([
      "bake",
      "qemu",
      join(work, out),
      ...args,
      ...(kernel ? ["--kernel", kernel] : []),
      "--force",
      "-q",
      "--json",
    ]),
  );
const routerArgs = ["--config", join(ex, "router.json"), "--firewall", join(ex, "rules.nft")];
bake("router", routerArgs, "stock");
bake("plane", ["--config", join(ex, "router.json")], "stock");
bake("netprobe-img", [netprobe], "stock");
// The default kernel choice: the specialized one when it is built for what the image needs, else stock.
const special = bake("router-spec", routerArgs).kernel?.kind === "specialized";
if (!special) console.log("note: no specialized kernel for the router platform in this home: stock only");
const routers = special ? ["router", "router-spec"] : ["router"];
const label = { router: "router, stock kernel", "router-spec": "router, specialized kernel" };
const img = (n) => join(work, n);
const bytes = (n) => statSync(join(img(n), "kernel")).size + statSync(join(img(n), "initrd")).size;
const mb = (n) => `${(n / 1024 / 1024).toFixed(2)} MB`;
console.log("sizes (kernel + initrd):");
console.log(`  baseline: kernel plane without firewall, stock ${mb(bytes("plane"))}`);
for (const r of routers)
  console.log(
    `  ${label[r]} ${mb(bytes(r))} (initrd ${mb(statSync(join(img(r), "initrd")).size)}): ${(bytes(r) / bytes("plane")).toFixed(2)}x`,
  );

let port = 21000 + (process.pid % 1000) * 8;
const legs = () => {
  const a = port++;
  const b = port++;
  return ["--net", `socket:listen=127.0.0.1:${a}`, "--net", `socket:listen=127.0.0.1:${b}`];
};
const ready = /kiln: ready \(no program\)/;
const boot = Object.fromEntries(["plane", ...routers].map((n) => [n, []]));
const order = Object.keys(boot);
await repeat(runs, async (i) => {
  for (let k = 0; k < order.length; k++) {
    const name = order[(i + k) % order.length];
    boot[name].push(
      await timeToLine(process.execPath, [KILN, "launch", "qemu", ...legs(), img(name)], ready),
    );
  }
});
console.log(`\nboot: kiln launch -> "kiln: ready (no program)", ${runs} runs each, interleaved`);
const base = row("baseline: kernel plane, no firewall (stock)", boot.plane);
for (const r of routers) row(label[r], boot[r], base);

/** Start kiln launch ARGS in the background; resolves once `line` shows, with a stop function. */
function background(args, line) {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [KILN, "launch", "qemu", ...args], {
      env: { ...process.env, KILN_HOME: HOME },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const timer = setTimeout(() => rej(new Error(`no ${line} within 90 s: ${out}`)), 90_000);
    child.stdout.on("data", (b) => {
      out += b;
      if (line.test(out)) {
        clearTimeout(timer);
        res(
          () =>
            new Promise((done) => {
              child.on("close", done);
              child.kill("SIGTERM");
            }),
        );
      }
    });
  });
}

/** The client's throughput line, in Mbit/s. */
function send(net, target) {
  // reach first: it waits for the server's listener (the machines boot side by side).
  const out = kiln([
    "launch",
    "qemu",
    ...net,
    img("netprobe-img"),
    "--",
    "reach",
    target,
    "send",
    target,
    String(mib),
  ]);
  const m = /\(([\d.]+) Mbit\/s\)/.exec(out);
  if (!m) throw new Error(`no throughput in: ${out}`);
  return Number(m[1]);
}

const tput = Object.fromEntries(["direct", ...routers].map((n) => [n, []]));
const ways = Object.keys(tput);
await repeat(runs, async (i) => {
  for (let k = 0; k < ways.length; k++) {
    const how = ways[(i + k) % ways.length];
    const a = port++;
    const b = port++;
    if (how === "direct") {
      const stopServer = await background(
        [
          "--net",
          `socket:listen=127.0.0.1:${a},ip=10.2.0.2/24`,
          img("netprobe-img"),
          "--",
          "serve",
          "80",
          "wait",
        ],
        /kiln: net eth0/,
      );
      tput.direct.push(send(["--net", `socket:connect=127.0.0.1:${a},ip=10.2.0.3/24`], "10.2.0.2:80"));
      await stopServer();
    } else {
      const stopRouter = await background(
        ["--net", `socket:listen=127.0.0.1:${a}`, "--net", `socket:listen=127.0.0.1:${b}`, img(how)],
        ready,
      );
      const stopServer = await background(
        [
          "--net",
          `socket:connect=127.0.0.1:${b},ip=10.2.0.2/24`,
          img("netprobe-img"),
          "--",
          "serve",
          "80",
          "wait",
        ],
        /kiln: net eth0/,
      );
      tput[how].push(
        send(["--net", `socket:connect=127.0.0.1:${a},ip=10.1.0.2/24,gw=10.1.0.1`], "10.2.0.2:80"),
      );
      await stopServer();
      await stopRouter();
    }
  }
});
console.log(
  `\nTCP throughput, client -> server, ${mib} MiB, ${runs} runs each, interleaved (Mbit/s; higher is better; client and server on the stock kernel)`,
);
const fmt = (xs) =>
  `median ${median(xs).toFixed(1).padStart(7)} Mbit/s (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, n=${xs.length})`;
console.log(`${"baseline: direct link".padEnd(44)} ${fmt(tput.direct)}`);
for (const r of routers)
  console.log(
    `${`through the ${label[r]}`.padEnd(44)} ${fmt(tput[r])}  ${(median(tput[r]) / median(tput.direct)).toFixed(2)}x baseline`,
  );
