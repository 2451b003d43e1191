/**
 * Stream bytes into a file only if they are what was promised: written to a temporary file beside `dest`
 * while hashed, checked against the expected sha256 digest (and size when known), then renamed into place.
 * A broken stream, a wrong size or a wrong digest leaves nothing at `dest` and no temporary file.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { KilnError, q } from "../errors.js";
import { fsError, isFsError } from "../fsError.js";
import { scratchBeside } from "../scratchName.js";

export function digestError(label: string, expected: string, actual: string, size?: number): KilnError {
  return new KilnError(
    "KILN_EDIGEST",
    `Digest of ${label} is ${q(actual)}, expected ${q(expected)}${size === undefined ? "" : ` (${size} bytes)`}`,
    "The data was changed or damaged on the way; nothing was kept. Try again, and tell the registry's operator if it persists.",
    { details: { expected, actual } },
  );
}

export function sizeError(label: string, expected: number, actual: number): KilnError {
  return new KilnError(
    "KILN_EDIGEST",
    `Size of ${label} is ${actual} bytes, expected ${expected}`,
    "The data was cut short or padded on the way; nothing was kept. Try again.",
    { details: { expected, actual } },
  );
}

/**
 * Write `input` to `dest` when its digest is `digest` (`sha256:<hex>`). `onStreamError` turns a failure of
 * the input stream (a dropped connection) into the caller's error; file system errors pass through.
 */
export async function writeVerified(
  input: Readable,
  dest: string,
  opts: {
    digest: string;
    size?: number;
    label: string;
    mode?: number;
    onStreamError?: (e: unknown) => Error;
  },
): Promise<{ size: number }> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = await scratchBeside(dest);
  const hash = createHash("sha256");
  let n = 0;
  let inputFailed: unknown;
  let writeFailed: unknown;
  input.once("error", (e) => {
    inputFailed = e;
  });
  const out = createWriteStream(tmp, opts.mode === undefined ? {} : { mode: opts.mode });
  out.once("error", (e) => {
    writeFailed = e;
  });
  const count = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (opts.size !== undefined && n > opts.size) {
        cb(sizeError(opts.label, opts.size, n));
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(input, count, out);
    if (opts.size !== undefined && n !== opts.size) throw sizeError(opts.label, opts.size, n);
    const actual = `sha256:${hash.digest("hex")}`;
    if (actual !== opts.digest) throw digestError(opts.label, opts.digest, actual, n);
    await rename(tmp, dest);
    return { size: n };
  } catch (e) {
    await rm(tmp, { force: true });
    if (e instanceof KilnError) throw e;
    // A full disk ends the pipeline, which then destroys the input with the same error: the local fault
    // is the cause, never the connection. (A broken input reaches the file's stream too, as itself.)
    if (isFsError(writeFailed)) throw fsError(writeFailed, dest, "write");
    if (inputFailed !== undefined && opts.onStreamError) throw opts.onStreamError(inputFailed);
    throw fsError(e, dest);
  }
}
