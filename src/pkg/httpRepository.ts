/**
 * A published repository served over HTTP(S) (staticIndex.ts layout): read-only. Blobs are streamed into
 * the store, which keeps them only when their digest is the one the index names.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { KilnError, q } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { unpackRecipe } from "./recipeArchive.js";
import { type BlobRef, candidateOf, newestFirst, type PackageMeta, type Repository } from "./repository.js";
import type { Candidate } from "./resolver.js";
import { blobRel, INDEX_FILE, parseIndex, type StaticIndex, searchIndex } from "./staticIndex.js";

const INDEX_MAX = 64 * 1024 * 1024;

export class HttpRepository implements Repository {
  readonly kind = "http" as const;
  private index: Promise<StaticIndex> | undefined;
  private readonly base: string;

  constructor(
    readonly spec: string,
    private readonly store: Store,
  ) {
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
        `Cannot reach repository ${q(this.spec)} for ${what}: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`,
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

  private load(): Promise<StaticIndex> {
    this.index ??= (async () => {
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
    })();
    return this.index;
  }

  async list(name: string): Promise<PackageMeta[]> {
    return newestFirst((await this.load()).packages.get(name) ?? []);
  }

  async versions(name: string): Promise<Candidate[]> {
    return (await this.list(name)).map(candidateOf);
  }

  async search(term: string): Promise<PackageMeta[]> {
    return searchIndex(await this.load(), term);
  }

  private async blob(ref: BlobRef, what: string): Promise<string> {
    if (await this.store.has(ref.sha256)) return this.store.blobPath(ref.sha256);
    const res = await this.get(blobRel(ref.sha256), what);
    const tmpDir = join(this.store.root, "tmp");
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `http-${process.pid}-${randomBytes(6).toString("hex")}`);
    try {
      try {
        await pipeline(
          Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
          createWriteStream(tmp),
        );
      } catch (e) {
        throw new KilnError(
          "KILN_EREPO_IO",
          `The transfer of ${what} from ${q(this.spec)} broke: ${((e as Error).cause as Error | undefined)?.message ?? (e as Error).message}`,
          "Nothing was kept; run the command again.",
          { cause: e },
        );
      }
      try {
        return (await this.store.put(tmp, ref.sha256)).path;
      } catch (e) {
        if (e instanceof KilnError && e.code === "KILN_EDIGEST") {
          throw new KilnError(
            "KILN_EDIGEST",
            `${what} from ${q(this.spec)} is not what its index says: expected sha256 ${ref.sha256}, got ${(e.details as { actual: string }).actual}`,
            "The server sent other bytes (damaged or tampered); nothing was kept.",
            { details: e.details },
          );
        }
        throw e;
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async fetchRecipe(meta: PackageMeta): Promise<string> {
    await this.blob(meta.recipe, `the recipe of ${meta.name} ${meta.version}`);
    return unpackRecipe(this.store, meta.recipe.sha256);
  }

  async fetchArtifact(meta: PackageMeta): Promise<string | undefined> {
    if (!meta.artifact) return undefined;
    return this.blob(meta.artifact, `the build of ${meta.name} ${meta.version}`);
  }
}
