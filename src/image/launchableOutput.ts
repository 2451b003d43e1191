import { createHash } from "node:crypto";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { q, usageError } from "../core/errors.js";
import { scratchBeside } from "../core/scratchName.js";
import { testPause } from "../core/testPause.js";

/**
 * Write one launchable file atomically. `fill` writes `file` inside a private work directory beside the
 * output (same filesystem, so the final rename is atomic; the file already has its final base name, since
 * some formats record it, e.g. VMDK extents). Whatever happens, the work directory goes; on failure the
 * output path is untouched.
 */
export async function writeLaunchable(
  out: string,
  fill: (file: string, workDir: string) => Promise<Record<string, unknown> | undefined>,
): Promise<{ out: string; size: number; sha256: string; details?: Record<string, unknown> }> {
  const abs = resolve(out);
  const dir = dirname(abs);
  let dirStat: Awaited<ReturnType<typeof stat>> | undefined;
  try {
    dirStat = await stat(dir);
  } catch {}
  if (!dirStat?.isDirectory()) {
    throw usageError(
      "KILN_EOUT_DIR_MISSING",
      `Cannot write ${q(out)}: the directory ${q(dir)} does not exist`,
      `Create it first (mkdir -p ${dir}) or choose another output path.`,
    );
  }
  const existing = await stat(abs).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw usageError(
      "KILN_EOUT_IS_DIR",
      `Cannot write ${q(out)}: it is a directory`,
      "Give a file name for the launchable, like out/hello.img.",
    );
  }
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
    await rename(file, abs);
    return { out: abs, size, sha256: digest, ...(details ? { details } : {}) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * sha256 of a file, read into one reused 8 MiB buffer: disks can be GiBs of (sparse) zeros, and both small
 * reads and a fresh buffer per read (createReadStream) cost more than the hash itself.
 */
async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  const buf = Buffer.allocUnsafe(8 << 20);
  const fh = await open(path, "r");
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest("hex");
}
