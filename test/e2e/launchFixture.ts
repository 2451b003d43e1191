// The images the launch tests boot, made the way users make them: programs compiled with the kiln
// toolchain's x86_64-kiln-linux-musl-gcc and baked with `kiln bake qemu` (real kiln-init, Debian's stock
// cloud kernel from the shared test KILN_HOME). Each test file bakes its own copies under its scratch
// directory, so it can find exactly the QEMU processes it started in the process table.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KILN, ROOT, sharedHome } from "../helpers.js";

export type ImageKind = "hello" | "probe" | "httpd" | "plane";

const SOURCES: Record<Exclude<ImageKind, "plane">, string> = {
  hello: join(ROOT, "examples", "hello", "hello.c"),
  httpd: join(ROOT, "examples", "httpd", "httpd.c"),
  // Reports its arguments, chosen environment variables and files, and exits with $PROBE_EXIT.
  probe: join(ROOT, "test", "fixtures", "launch", "probe.c"),
};

function kiln(args: string[]): string {
  return execFileSync(process.execPath, [KILN, ...args], {
    env: { ...process.env, KILN_HOME: sharedHome() },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

let cc: string | undefined;

/** The kiln C compiler wrapper (writing the default toolchain in the shared home the first time). */
export function kilnCc(): string {
  cc ??= (JSON.parse(kiln(["toolchain", "--json", "--quiet"])) as { cc: string }).cc;
  return cc;
}

/** Bake `kind` into parent/kind and return the image directory. `plane` is a kernel-plane image (no program). */
export function bakeImage(parent: string, kind: ImageKind, platform = "qemu"): string {
  const out = join(parent, platform === "qemu" ? kind : `${kind}-${platform}`);
  const programs: string[] = [];
  if (kind !== "plane") {
    const build = join(parent, "build");
    mkdirSync(build, { recursive: true });
    const program = join(build, kind);
    execFileSync(kilnCc(), ["-Os", "-o", program, SOURCES[kind]], { stdio: ["ignore", "pipe", "pipe"] });
    programs.push(program);
  }
  kiln(["bake", platform, out, ...programs, "--kernel", "stock", "--quiet"]);
  return out;
}

/** Live processes (pid, argv) whose argv[0] is a QEMU and whose arguments mention `needle`. */
export function qemuProcesses(needle: string): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    if (argv[0]?.includes("qemu-system") && argv.some((a) => a.includes(needle)))
      out.push({ pid: Number(e), argv });
  }
  return out;
}
