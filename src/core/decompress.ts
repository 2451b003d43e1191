/**
 * Decompress a stream by its format: xz, zstd and lz4 through the real tools (`xz -dc`, `zstd -dc`, `lz4 -dc`
 * over pipes, as the design says), gzip with node's zlib. A tool that fails (corrupt or truncated input) makes the
 * output stream fail with KILN_EARCHIVE_INVALID, so a consumer never takes a short stream for a whole one.
 */
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { KilnError, q } from "./errors.js";
import { spawnChild } from "./spawnChild.js";

export type Compression = "xz" | "zst" | "gz" | "lz4" | "none";

/** The tool for each piped format, and the Debian package that has it. */
const TOOLS = {
  // xz 5.4 decompresses multi-block streams (dpkg-deb writes them) in parallel with -T0.
  xz: { cmd: "xz", args: ["-dc", "-T0"], pkg: "xz-utils" },
  zst: { cmd: "zstd", args: ["-dc"], pkg: "zstd" },
  lz4: { cmd: "lz4", args: ["-dc"], pkg: "lz4" },
} as const;

/** The compression a file name's suffix says (`data.tar.xz` → xz). */
export function compressionOf(name: string): Compression | undefined {
  if (name.endsWith(".xz")) return "xz";
  if (name.endsWith(".zst")) return "zst";
  if (name.endsWith(".gz")) return "gz";
  if (name.endsWith(".tar") || !/\.[a-z0-9]+$/.test(name)) return "none";
  return undefined;
}

/** `env` is the environment the tool runs in (its PATH decides which tool, or none). */
export function decompress(
  input: Readable,
  kind: Compression,
  label: string,
  env?: NodeJS.ProcessEnv,
): Readable {
  if (kind === "none") return input;
  if (kind === "gz") {
    const out = new PassThrough();
    pipeline(input, createGunzip(), out).catch((e: Error) => out.destroy(invalid(label, e.message)));
    return out;
  }
  const { cmd: tool, args, pkg } = TOOLS[kind];
  const out = new PassThrough();
  const child = spawnChild(tool, [...args], { stdio: ["pipe", "pipe", "pipe"], ...(env ? { env } : {}) });
  let stderr = "";
  let done = false;
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  child.on("error", (e: NodeJS.ErrnoException) => {
    done = true;
    out.destroy(
      e.code === "ENOENT"
        ? new KilnError(
            "KILN_ETOOL_MISSING",
            `Cannot run ${q(tool)} to decompress ${q(label)}: not found`,
            `Install it (Debian: apt-get install ${pkg}).`,
          )
        : e,
    );
  });
  // The tool may exit early on bad input; its closed stdin is reported through its exit status below.
  pipeline(input, child.stdin).catch(() => {});
  child.stdout.pipe(out, { end: false });
  child.on("close", (code, signal) => {
    if (done) return;
    done = true;
    if (code === 0) out.end();
    else out.destroy(invalid(label, stderr.trim() || `${tool} exited with ${code ?? signal}`));
  });
  out.on("close", () => {
    if (!done) child.kill("SIGKILL");
    input.destroy();
  });
  return out;
}

function invalid(label: string, why: string): KilnError {
  return new KilnError(
    "KILN_EARCHIVE_INVALID",
    `Cannot decompress ${q(label)}: ${why}`,
    "The archive is damaged or truncated; download it again.",
  );
}
