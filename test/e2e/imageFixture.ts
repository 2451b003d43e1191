// Shared by the launchable (disk image) end-to-end tests: a baked hello image, and booting a launchable in
// real QEMU while watching its serial console.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bakeImage, compileHello } from "./fixtures.js";

let baked: Promise<string> | undefined;

/**
 * The hello image the launchable tests start from: examples/hello built with the kiln toolchain and baked
 * for qemu by the real `kiln bake` (shared KILN_HOME: scripts/test.mjs has fetched the kernel and written
 * the toolchain). Baked afresh once per test process (0.3 s), into a directory of its own, so tests see the
 * current kiln-init and parallel test files never share a half-written image.
 */
export function helloImage(): Promise<string> {
  baked ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-image-hello-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const program = await compileHello(join(dir, "hello"));
    return bakeImage(join(dir, "image"), [program]);
  })();
  return baked;
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
