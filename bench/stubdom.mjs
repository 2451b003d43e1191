// QEMU as a Xen stub domain on the rig (test/e2e/xenRig.ts), against the same QEMU in dom0, measured in the
// same run:
// - size: the stub domain (kernel + ramdisk) against dom0's QEMU (its binary and library closure on disk);
// - memory: the smallest stubdomain_memory with which the guest boots hello, against the resident memory of
//   dom0's QEMU process serving the same guest;
// - time from `xl create` to the device model running (xl create returns), stub domain against dom0's QEMU.
// Usage: node bench/stubdom.mjs [runs]
import { statSync } from "node:fs";
import { join } from "node:path";
import { register } from "tsx/esm/api";
import { HOME, helloSetup, kiln, repeat, row } from "./lib.mjs";

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 3);
process.env.KILN_TEST_HOME = HOME;
register();
const { xenRig } = await import("../test/e2e/xenRig.ts");
const { hotplugScript } = await import("../src/launch/drivers/xenHotplug.ts");
const { hvmGuest } = await import("../test/e2e/hvmGuest.ts");
const work = join(HOME, "bench-stubdom");
const hello = helloSetup(work);
const stubdom = join(work, "stubdom");
kiln(["bake", "xen-stubdom", stubdom, "deb:qemu-system-xen", "--quiet", "--force"]);
const image = join(work, "hello-image");
kiln(["bake", "qemu", image, hello, "--quiet", "--force"]);
const script = await hotplugScript({ ...process.env, KILN_HOME: HOME });
const rig = await xenRig();

let n = 0;
/** An HVM guest booting hello; its device model in a stub domain of `stubMB` MiB, or in dom0. */
async function create({ stubMB }) {
  const name = `b${n++}`;
  const serial = join(work, `serial-${name}.log`);
  const { cfg } = hvmGuest({
    name,
    dir: work,
    image,
    serial,
    script,
    ...(stubMB ? { stub: { image: stubdom, memoryMB: stubMB } } : {}),
  });
  const t0 = performance.now();
  const r = await rig.run(["xl", "create", cfg], { timeoutS: 400 });
  return { name, ok: r.code === 0, ms: performance.now() - t0, serial };
}
async function bootsHello(stubMB) {
  const c = await create({ stubMB });
  if (!c.ok) return false;
  for (let i = 0; i < 90; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    const out = await rig.run(["cat", c.serial]);
    if (/kiln: exit 0/.test(out.output)) return true;
    if ((await rig.run(["xl", "domid", c.name])).code !== 0) break;
  }
  await rig.run(["xl", "destroy", c.name]);
  return false;
}

const size = (f) => statSync(f).size / 2 ** 20;
console.log(
  `stub domain: ${(size(join(stubdom, "kernel")) + size(join(stubdom, "initrd"))).toFixed(1)} MiB (kernel ${size(join(stubdom, "kernel")).toFixed(1)} + ramdisk ${size(join(stubdom, "initrd")).toFixed(1)})`,
);
const dom0 = await rig.run([
  "sh",
  "-c",
  "ldd /usr/libexec/xen-qemu-system-i386 | awk '/=>/{print $3}' | xargs -r stat -L -c %s | awk '{s+=$1} END {print s}'; stat -c %s /usr/libexec/xen-qemu-system-i386",
]);
const [libs, bin] = dom0.output.trim().split("\n").map(Number);
console.log(`baseline: dom0's QEMU, binary + libraries: ${((libs + bin) / 2 ** 20).toFixed(1)} MiB`);

const base = row(
  "baseline: xl create -> running, QEMU in dom0",
  await repeat(runs, async () => {
    const c = await create({});
    await rig.run(["xl", "destroy", c.name]);
    return c.ms;
  }),
);
row(
  "xl create -> running, QEMU in a stub domain",
  await repeat(runs, async () => {
    const c = await create({ stubMB: 256 });
    await rig.run(["xl", "destroy", c.name]);
    return c.ms;
  }),
  base,
);

// dom0's QEMU: resident memory while it serves a guest that has booted.
const d = await create({});
await new Promise((r) => setTimeout(r, 20000));
const rss = await rig.run(["sh", "-c", "ps -o rss= -C xen-qemu-system-i386 | sort -n | tail -1"]);
await rig.run(["xl", "destroy", d.name]);
let smallest = Number.NaN;
for (const mb of [96, 128, 160, 192, 224, 256]) {
  if (await bootsHello(mb)) {
    smallest = mb;
    break;
  }
}
console.log(
  `smallest stubdomain_memory booting hello: ${smallest} MiB (baseline: dom0's QEMU resident ${(Number(rss.output.trim()) / 1024).toFixed(0)} MiB)`,
);
