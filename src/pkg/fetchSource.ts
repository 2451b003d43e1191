/**
 * Fetch a URL source into the store, by its sha256: nothing is fetched when the store has the digest;
 * otherwise each mirror is tried first (MIRROR/<file name>), then the URL itself. Bytes are hashed while
 * they are written to a temporary file and only a file with the promised digest enters the store; a wrong
 * digest or a broken transfer leaves nothing behind.
 */
import { posix } from "node:path";
import { isKilnError, KilnError, q } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { downloadVerified, fetchFailure } from "./verifiedBlob.js";

export interface FetchOptions {
  /** Base URLs tried before the source's own URL (from --mirror and KILN_MIRRORS). */
  mirrors?: readonly string[];
}

/** Mirrors from KILN_MIRRORS (space or comma separated) and the command line. */
export function mirrorsFrom(env: NodeJS.ProcessEnv, extra: readonly string[] = []): string[] {
  return [...extra, ...(env.KILN_MIRRORS ?? "").split(/[\s,]+/)].filter(Boolean);
}

export async function fetchUrlSource(
  store: Store,
  src: { url: string; sha256: string },
  opts: FetchOptions = {},
): Promise<string> {
  if (await store.has(src.sha256)) return store.blobPath(src.sha256);
  const file = posix.basename(new URL(src.url).pathname);
  const urls = [...(opts.mirrors ?? []).map((m) => `${m.replace(/\/+$/, "")}/${file}`), src.url];
  const failures: string[] = [];
  for (const url of urls) {
    try {
      return await download(store, url, src.sha256);
    } catch (e) {
      // A wrong digest is an answer, not an absence: stop and say so.
      if (isKilnError(e) && e.code === "KILN_EDIGEST") throw e;
      failures.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new KilnError(
    "KILN_EDOWNLOAD",
    `Cannot download ${q(src.url)}${urls.length > 1 ? " (or from a mirror)" : ""}: ${failures.join("; ")}`,
    "Check the URL and the network, or serve the file from a mirror (--mirror URL, or KILN_MIRRORS).",
    { details: { tried: urls } },
  );
}

async function download(store: Store, url: string, want: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (e) {
    throw new Error(fetchFailure(e));
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`HTTP ${res.status}`);
  }
  return downloadVerified(store, res.body, want, {
    tmpPrefix: "dl",
    broken: (e) => new Error(`the transfer broke (${e.message}); nothing was kept`),
    mismatch: {
      message: (actual) =>
        `Digest mismatch for ${q(url)}: the recipe says sha256 ${want}, the download is ${actual}`,
      hint: "The file is not the one the recipe names (changed upstream, or tampered with); nothing was kept. Fix the recipe's sha256 only if you trust the new file.",
    },
  });
}
