/**
 * Bytes entering the store under the digest something promised (a repository's index, a recipe's sha256):
 * the store checks the digest and keeps nothing on a mismatch; these helpers say whose promise was broken,
 * and stream downloads through a temporary file that is always removed.
 */
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream } from "node:stream/web";
import { isKilnError, KilnError } from "../core/errors.js";
import { scratchName } from "../core/scratchName.js";
import type { Store } from "../core/store.js";

/** What a digest mismatch means to the caller: its message (given the actual digest) and hint. */
export interface Mismatch {
  message: (actual: string) => string;
  hint: string;
}

/** store.put(path, sha256), with a KILN_EDIGEST that names the source of the bytes. */
export async function putVerified(
  store: Store,
  path: string,
  sha: string,
  mismatch: Mismatch,
): Promise<string> {
  try {
    return (await store.put(path, sha)).path;
  } catch (e) {
    if (isKilnError(e) && e.code === "KILN_EDIGEST") {
      throw new KilnError(
        "KILN_EDIGEST",
        mismatch.message((e.details as { actual: string }).actual),
        mismatch.hint,
        { details: e.details },
      );
    }
    throw e;
  }
}

/**
 * Write a response body to a temporary file in the store's tmp/ (a scratchName of `tmpPrefix`), then
 * putVerified it. `broken` turns a failed transfer into the caller's error. The temporary file never stays.
 */
export async function downloadVerified(
  store: Store,
  body: ReadableStream | globalThis.ReadableStream,
  sha: string,
  opts: { tmpPrefix: string; broken: (e: Error) => Error; mismatch: Mismatch },
): Promise<string> {
  const tmpDir = join(store.root, "tmp");
  await mkdir(tmpDir, { recursive: true });
  const tmp = join(tmpDir, scratchName(opts.tmpPrefix));
  try {
    try {
      await pipeline(Readable.fromWeb(body as ReadableStream), createWriteStream(tmp));
    } catch (e) {
      throw opts.broken(e as Error);
    }
    return await putVerified(store, tmp, sha, opts.mismatch);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Why fetch() failed: undici puts the system error (ECONNREFUSED ...) in `cause`. */
export function fetchFailure(e: unknown): string {
  return ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
}
