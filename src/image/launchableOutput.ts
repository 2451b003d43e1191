import { mkdir, open, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { sha256Handle } from "../core/digest.js";
import { claimOutput, placeOutput } from "../core/outputPath.js";
import { scratchBeside } from "../core/scratchName.js";
import { testPause } from "../core/testPause.js";
import type { FormatOptions } from "./format.js";

/**
 * Write one launchable file atomically. `fill` writes `file` inside a private work directory beside the
 * output (same filesystem, so the final rename is atomic; the file already has its final base name, since
 * some formats record it, e.g. VMDK extents). Whatever happens, the work directory goes; on failure the
 * output path is untouched. What is at the path already is replaced only if kiln made it, or with --force
 * (src/core/outputPath.ts).
 */
export async function writeLaunchable(
  out: string,
  opts: Pick<FormatOptions, "force" | "env" | "scratch">,
  fill: (file: string, workDir: string) => Promise<Record<string, unknown> | undefined>,
): Promise<{ out: string; size: number; sha256: string; details?: Record<string, unknown> }> {
  const output = {
    kind: "file" as const,
    ...(opts.force ? { force: true } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.scratch ? { record: false } : {}),
  };
  const abs = await claimOutput(out, output);
  const work = await scratchBeside(abs);
  await mkdir(join(work, "out"), { recursive: true });
  await mkdir(join(work, "scratch"));
  try {
    // Scratch files live apart from the output, so no output name can collide with them.
    const file = join(work, "out", basename(abs));
    const details = await fill(file, join(work, "scratch"));
    const size = (await stat(file)).size;
    const digest = await hashFile(file);
    await testPause("launchable:written");
    await placeOutput(file, out, output);
    return { out: abs, size, sha256: digest, ...(details ? { details } : {}) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function hashFile(path: string): Promise<string> {
  const fh = await open(path, "r");
  try {
    return await sha256Handle(fh);
  } finally {
    await fh.close();
  }
}
