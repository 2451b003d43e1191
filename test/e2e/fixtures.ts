// Programs and images the end-to-end tests share. Everything is made through the real `kiln` executable
// in the shared KILN_HOME (scripts/test.mjs fetches the kernel and writes the toolchain once per run).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, run, runKiln, sharedHome } from "../helpers.js";

export const WORK = join(ROOT, ".kiln-test", "work");
export const TOOLCHAIN_BIN = () => join(sharedHome(), "toolchains", "default", "bin");
export const CC = () => join(TOOLCHAIN_BIN(), "x86_64-kiln-linux-musl-gcc");

/** Compile a C source (text or a file under examples/) with the kiln toolchain; returns the program path. */
export async function compile(name: string, source: string): Promise<string> {
  const dir = join(WORK, "programs");
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.c`);
  const out = join(dir, name);
  writeFileSync(src, source);
  const r = await run(CC(), ["-Os", "-o", out, src]);
  if (r.code !== 0) throw new Error(`compiling ${name} failed: ${r.stderr}`);
  return out;
}

/** Compile examples/hello/hello.c with the kiln toolchain into `out` (its directory must exist). */
export async function compileHello(out: string): Promise<string> {
  const r = await run(CC(), ["-Os", "-o", out, join(ROOT, "examples", "hello", "hello.c")]);
  if (r.code !== 0) throw new Error(`compiling hello failed: ${r.stderr}`);
  return out;
}

/** examples/hello compiled once into the shared work directory. */
export async function helloProgram(): Promise<string> {
  const out = join(WORK, "programs", "hello");
  if (!existsSync(out)) {
    mkdirSync(join(WORK, "programs"), { recursive: true });
    await compileHello(out);
  }
  return out;
}

/** Bake with the real CLI; throws with kiln's own message when bake fails. */
export async function bakeImage(out: string, args: string[]): Promise<string> {
  const r = await runKiln(["bake", "qemu", out, ...args, "--kernel", "stock", "--quiet"]);
  if (r.code !== 0) throw new Error(`bake failed (${r.code}): ${r.stderr}`);
  return out;
}
