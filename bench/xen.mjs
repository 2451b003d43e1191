// Real Xen (the test rig: Xen 4.17 under QEMU's software emulation, kiln's xen-host image as dom0), each
// figure against a baseline measured in the same run:
// - the Xen host's boot (QEMU start to dom0's toolstack up), against the same generic kernel and kiln-init
//   booted by QEMU without Xen;
// - `xl create` to a kiln guest's first line, the specialized kernel against the stock one (the baseline);
// - the smallest memory a kiln hello boots in under Xen, against the same image under QEMU.
// Usage: node bench/xen.mjs [runs]   (builds Xen's specialized kernel if missing: minutes)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { register } from "tsx/esm/api";
import {
  HOME,
  helloSetup,
  kiln,
  qemuCommand,
  ROOT,
  repeat,
  row,
  smallestMemory,
  timeToLine,
} from "./lib.mjs";

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 5);
process.env.KILN_TEST_HOME = HOME;
register();
const { xenRig } = await import("../test/e2e/xenRig.ts");
const work = join(HOME, "bench-xen");
const hello = helloSetup(work);
kiln(["components", "fetch", "--platform", "xen-host", "--quiet"]);

// 1. The Xen host's boot: QEMU start to the toolstack's readiness (xenconsoled is the last rc program
// before main; "kiln: ready" with no main program), against the generic kernel with kiln-init alone.
const host = join(work, "xen-host");
kiln(["bake", "xen-host", host, "--quiet", "--force"]);
const plain = join(work, "generic-plain");
kiln(["bake", "xen-host", plain, "--quiet", "--force", "-c", writePlainPlatform()]);
function writePlainPlatform() {
  // The same kernel flavour and modules, no hypervisor and no toolstack: what dom0 costs without Xen.
  const f = join(work, "plain.toml");
  writeFileSync(
    f,
    '[platforms.xen-host]\ndescription = "the generic kernel alone"\ninclude = ["base"]\nkernel = "generic"\ncomponents = ["fs.ext4", "net.ipv4"]\n',
  );
  return f;
}
const qemuCmd = (image) => qemuCommand(image).cmd;
console.log(`${runs} runs each`);
const ready = /kiln: ready/;
const pc = qemuCmd(plain);
const b0 = row(
  "baseline: generic kernel + kiln-init, no Xen",
  await repeat(runs, () => timeToLine(pc[0], pc.slice(1), ready, { timeoutMs: 300_000 })),
);
const hc = qemuCmd(host);
row(
  "Xen host: Xen + dom0 + toolstack up",
  await repeat(runs, () => timeToLine(hc[0], hc.slice(1), ready, { timeoutMs: 600_000 })),
  b0,
);

// 2. and 3. inside dom0.
const rig = await xenRig();
const images = {};
for (const kernel of ["stock", "specialized"]) {
  images[kernel] = join(work, `hello-xen-${kernel}`);
  kiln(["bake", "xen", images[kernel], hello, "--kernel", kernel, "--quiet", "--force"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
}
/** An xl configuration for IMAGE (kiln's own, from a dry run) with MEMORY MiB. */
function xlConfig(image, memory, name) {
  const plan = JSON.parse(
    kiln(["launch", "xen", "--dry-run", "--json", "--name", name, "-M", String(memory), image]),
  );
  const cfg = join(work, `${name}.cfg`);
  writeFileSync(cfg, plan.files.find((f) => f.path.endsWith("xen.cfg")).content);
  return cfg;
}
async function firstLine(cfg) {
  const r = await rig.run([
    process.execPath,
    join(ROOT, "bench", "xenFirstLine.mjs"),
    cfg,
    "Hello from kiln!",
  ]);
  const j = JSON.parse(r.output.trim().split("\n").pop());
  if (j.firstMs === null) throw new Error(`no first line: ${r.output}`);
  return j;
}
const bs = row(
  "baseline: xl create -> hello's line, stock kernel",
  await repeat(runs, async (i) => (await firstLine(xlConfig(images.stock, 128, `bench-s${i}`))).firstMs),
);
row(
  "xl create -> hello's line, specialized kernel",
  await repeat(
    runs,
    async (i) => (await firstLine(xlConfig(images.specialized, 128, `bench-p${i}`))).firstMs,
  ),
  bs,
);

const smallest = (boots) => smallestMemory(boots, { lo: 16, hi: 256 });
const underXen = async (image, tag) =>
  smallest(async (m) => {
    // kiln refuses a memory below what the kernel needs to start (a usage error): that does not boot either.
    const j = await Promise.resolve()
      .then(() => firstLine(xlConfig(image, m, `bench-m${tag}${m}`)))
      .catch(() => ({ exit: null }));
    return j.exit === "0";
  });
const underQemu = (image) =>
  smallest(async (m) => {
    try {
      return /kiln: exit 0/.test(kiln(["launch", "qemu", "--rm", "-M", String(m), image]));
    } catch {
      return false;
    }
  });
for (const kernel of ["stock", "specialized"]) {
  const q = await underQemu(images[kernel]);
  const x = await underXen(images[kernel], kernel[0]);
  console.log(
    `${`smallest memory, ${kernel} kernel`.padEnd(44)} Xen ${x} MiB  (baseline QEMU ${q} MiB; ${(x / q).toFixed(2)}x)`,
  );
}
