// Shared by the launchable (disk image) end-to-end tests: a baked hello image, and booting a launchable in
// real QEMU while watching its serial console.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeCpio } from "../../src/bake/cpio.js";
import type { ImageManifest } from "../../src/bake/image.js";
import { KILN_VERSION } from "../../src/core/version.js";
import { ROOT } from "../helpers.js";

const WORK = join(ROOT, ".kiln-test", "image-fixture");
const KERNEL_DEBS = join(ROOT, ".kiln-test", "kernel");

const INIT_C = `#include <stdio.h>
#include <unistd.h>
#include <sys/reboot.h>
int main(void) {
  printf("hello from a launchable\\nkiln: exit 0\\n");
  fflush(stdout);
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
`;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/**
 * The hello image the launchable tests start from, made once per checkout. Hand-made until `kiln bake` is
 * reachable from the CLI: Debian's stock cloud kernel and an initrd (kiln's own cpio writer) whose /init is a
 * static musl program printing `kiln: exit 0` and rebooting (the kernel has reboot=t; QEMU -no-reboot).
 * Switching to the real bake: `return bakeImage(join(WORK, "baked"), [await helloProgram()])` (fixtures.ts).
 */
export async function helloImage(): Promise<string> {
  const dir = join(WORK, "hello");
  if (existsSync(join(dir, "manifest.json"))) return dir;
  mkdirSync(WORK, { recursive: true });
  const tmp = join(WORK, `hello.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const kernel = stockKernel(tmp);
    writeFileSync(join(tmp, "init.c"), INIT_C);
    execFileSync("musl-gcc", ["-static", "-Os", "-s", "-o", join(tmp, "init"), join(tmp, "init.c")]);
    const init = readFileSync(join(tmp, "init"));
    const config = { v: 1 as const, rc: [{ bin: "/init", argv: ["init"], mode: "main" as const }] };
    const initrd = writeCpio([
      { path: "/init", mode: 0o755, data: init },
      { path: "/kiln/image.json", data: Buffer.from(`${JSON.stringify(config)}\n`) },
    ]);
    const kbytes = readFileSync(kernel.path);
    const manifest: ImageManifest = {
      v: 1,
      kiln: KILN_VERSION,
      name: "hello",
      platform: "qemu",
      kernel: {
        file: "kernel",
        format: "bzimage",
        kind: "stock",
        release: kernel.release,
        sha256: sha(kbytes),
        size: kbytes.length,
      },
      initrd: { file: "initrd", sha256: sha(initrd), size: initrd.length, entries: 3 },
      cmdline: "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests=1",
      acpi: true,
      components: [],
      modules: [],
      programs: [{ path: "/init", source: "init.c", sha256: sha(init), size: init.length }],
      files: [],
      init: { path: "/init", sha256: sha(init), size: init.length, version: "fixture" },
      config,
    };
    const img = join(tmp, "image");
    mkdirSync(img);
    writeFileSync(join(img, "kernel"), kbytes);
    writeFileSync(join(img, "initrd"), initrd);
    writeFileSync(join(img, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      renameSync(img, dir);
    } catch (e) {
      // Another test process made it first: theirs is as good.
      if (!existsSync(join(dir, "manifest.json"))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Debian's cloud kernel from the package linux-image-cloud-amd64 depends on (downloaded once, shared). */
function stockKernel(tmp: string): { path: string; release: string } {
  mkdirSync(KERNEL_DEBS, { recursive: true });
  const deps = execFileSync("apt-cache", ["depends", "linux-image-cloud-amd64"], { encoding: "utf8" });
  const pkg = /Depends: (linux-image-\S+)/.exec(deps)?.[1];
  if (!pkg) throw new Error("apt-cache names no kernel package for linux-image-cloud-amd64");
  const find = () => readdirSync(KERNEL_DEBS).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (!find()) execFileSync("apt-get", ["download", pkg], { cwd: KERNEL_DEBS, stdio: "ignore" });
  const deb = find();
  if (!deb) throw new Error(`apt-get download ${pkg} wrote no .deb`);
  const release = pkg.replace(/^linux-image-/, "");
  execFileSync("sh", [
    "-c",
    'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot',
    "sh",
    join(KERNEL_DEBS, deb),
    tmp,
  ]);
  return { path: join(tmp, "boot", `vmlinuz-${release}`), release };
}

export interface BootResult {
  ok: boolean;
  ms: number;
  output: string;
}

/**
 * Boot QEMU with `args` (machine, firmware, disk), serial console on stdio, and wait for `kiln: exit 0`.
 * Killed after `timeoutMs`. The guest reboots at the end and -no-reboot turns that into QEMU's exit.
 */
export function bootUntilExit(
  args: readonly string[],
  accel: string,
  timeoutMs = 90_000,
): Promise<BootResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      "qemu-system-x86_64",
      [
        "-accel",
        accel,
        "-nographic",
        "-serial",
        "stdio",
        "-monitor",
        "none",
        "-no-reboot",
        "-nic",
        "none",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    let ok = false;
    const onData = (b: Buffer) => {
      output += b.toString("latin1");
      if (!ok && output.includes("kiln: exit 0")) {
        ok = true;
        setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", () => {
      clearTimeout(timer);
      resolve({ ok, ms: Math.round(performance.now() - started), output });
    });
  });
}
