/**
 * A published repository served over HTTP(S) (staticIndex.ts layout): read-only. Blobs are streamed into
 * the store, which keeps them only when their digest is the one the index names.
 */
import { KilnError, q } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { StaticIndexRepository } from "./indexRepository.js";
import type { BlobRef, PackageMeta, Repository } from "./repository.js";
import { blobRel, INDEX_FILE, parseIndex, type StaticIndex } from "./staticIndex.js";
import { downloadVerified, fetchFailure } from "./verifiedBlob.js";

const INDEX_MAX = 64 * 1024 * 1024;

export class HttpRepository extends StaticIndexRepository implements Repository {
  readonly kind = "http" as const;
  private readonly base: string;

  constructor(
    readonly spec: string,
    protected readonly store: Store,
  ) {
    super();
    this.base = spec.replace(/\/+$/, "");
  }

  private async get(rel: string, what: string): Promise<Response> {
    const url = `${this.base}/${rel}`;
    let res: Response;
    try {
      res = await fetch(url, { redirect: "follow" });
    } catch (e) {
      throw new KilnError(
        "KILN_EREPO_UNREACHABLE",
        `Cannot reach repository ${q(this.spec)} for ${what}: ${fetchFailure(e)}`,
        "Check the URL and that the server runs.",
        { cause: e },
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new KilnError(
        res.status === 404 ? "KILN_EREPO_BLOB_MISSING" : "KILN_EREPO_HTTP",
        `Repository ${q(this.spec)} answered ${res.status} for ${what} (${q(url)})`,
        res.status === 404
          ? "The repository is incomplete or the URL is wrong; it should hold index.json and blobs/sha256/."
          : "Check the server.",
      );
    }
    return res;
  }

  protected async readIndex(): Promise<StaticIndex> {
    const res = await this.get(INDEX_FILE, "its index");
    const len = Number(res.headers.get("content-length") ?? 0);
    if (len > INDEX_MAX) {
      await res.body?.cancel();
      throw new KilnError(
        "KILN_EREPO_INDEX",
        `The index of ${q(this.spec)} is ${len} bytes`,
        "That is not a kiln index.",
      );
    }
    return parseIndex(await res.text(), `${this.base}/${INDEX_FILE}`);
  }

  protected async fetchBlob(_meta: PackageMeta, ref: BlobRef, what: string): Promise<string> {
    const res = await this.get(blobRel(ref.sha256), what);
    return downloadVerified(this.store, res.body!, ref.sha256, {
      tmpPrefix: "http",
      broken: (e) =>
        new KilnError(
          "KILN_EREPO_IO",
          `The transfer of ${what} from ${q(this.spec)} broke: ${fetchFailure(e)}`,
          "Nothing was kept; run the command again.",
          { cause: e },
        ),
      mismatch: {
        message: (actual) =>
          `${what} from ${q(this.spec)} is not what its index says: expected sha256 ${ref.sha256}, got ${actual}`,
        hint: "The server sent other bytes (damaged or tampered); nothing was kept.",
      },
    });
  }
}
