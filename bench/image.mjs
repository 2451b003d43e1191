#!/usr/bin/env node
// Disk launchables: time to make each format from a baked hello image (median of N, in-process through the
// format registry, as `kiln image` calls it) and its size, against the floor of copying the kernel and initrd
// into one file (cat), measured in the same run. Targets: raw-bios and raw-uefi under 1 s each.
// Also `kiln image raw-bios` end to end through the CLI (Node start-up included).
// Needs `npm run build`. Usage: node bench/image.mjs [IMAGE_DIR] [N]
// IMAGE_DIR defaults to examples/hello baked for qemu with the tests' KILN_HOME (.kiln-test/home).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KILN, median, ROOT, repeat, row, timeSync } from "./lib.mjs";

const N = Number(process.argv[3] ?? 5);
const work = mkdtempSync(join(tmpdir(), "kiln-bench-image-"));
let image = process.argv[2];
if (!image) {
  // examples/hello through the real toolchain and bake, in the tests' KILN_HOME (kernel fetched once there).
  const env = { ...process.env, KILN_HOME: process.env.KILN_TEST_HOME ?? join(ROOT, ".kiln-test", "home") };
  const kiln = (...args) =>
    execFileSync(process.execPath, [KILN, ...args, "--quiet"], { env, stdio: "pipe" });
  kiln("toolchain");
  const cc = join(env.KILN_HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
  execFileSync(cc, ["-Os", "-o", join(work, "hello"), join(ROOT, "examples", "hello", "hello.c")], { env });
  image = join(work, "image");
  kiln("bake", "qemu", image, join(work, "hello"));
}
if (!existsSync(join(image, "manifest.json"))) {
  console.error(`no image at ${image}: give a directory \`kiln bake\` wrote`);
  process.exit(2);
}
const { readImage } = await import(join(ROOT, "dist", "bake", "image.js"));
const { getFormat } = await import(join(ROOT, "dist", "image", "format.js"));
const FORMATS = ["raw-bios", "raw-uefi", "raw", "iso", "qcow2", "vmdk", "vhd", "gce"];
const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;

try {
  const img = await readImage(image);
  const load = execFileSync("cat", ["/proc/loadavg"], { encoding: "utf8" }).split(" ")[0];
  console.log(
    `kiln image benchmark: ${img.manifest.name} (kernel ${mb(img.manifest.kernel.size)}, initrd ${mb(img.manifest.initrd.size)}), n=${N}, load ${load}`,
  );
  const floorFile = join(work, "floor");
  const floor = row(
    "floor: cat kernel initrd > file",
    await repeat(N, () =>
      timeSync("sh", ["-c", 'cat "$1" "$2" > "$3"', "sh", img.kernel, img.initrd, floorFile]),
    ),
  );
  const sizes = {};
  for (const name of FORMATS) {
    const format = await getFormat(name);
    const out = join(work, `hello.${name}`);
    await format.make(img, out, {}); // warm: page cache, lazy imports
    const xs = await repeat(N, async () => {
      rmSync(out, { force: true });
      const t = performance.now();
      const r = await format.make(img, out, {});
      sizes[name] = r.size;
      return performance.now() - t;
    });
    const m = row(`make ${name}`, xs, floor);
    const target =
      name === "raw-bios" || name === "raw-uefi"
        ? m < 1000
          ? "  (target < 1 s: met)"
          : "  (target < 1 s: MISSED)"
        : "";
    console.log(
      `${"".padEnd(44)} size ${mb(sizes[name])} (${statSync(out).blocks * 512 < sizes[name] ? `${mb(statSync(out).blocks * 512)} allocated` : "dense"})${target}`,
    );
  }
  const cliOut = join(work, "cli.img");
  const cli = await repeat(N, () => {
    rmSync(cliOut, { force: true });
    return timeSync(process.execPath, [KILN, "image", "raw-bios", image, "-o", cliOut, "--quiet"]);
  });
  row("kiln image raw-bios (CLI, end to end)", cli, floor);
  console.log(`median over formats ${(median(FORMATS.map((f) => sizes[f])) / 1048576) | 0} MB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
