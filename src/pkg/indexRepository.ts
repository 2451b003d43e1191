/**
 * What the repository kinds that hold published packages (directory, HTTP(S), OCI) have in common:
 * recipes and artifacts are blobs named by the digest in the metadata, and a blob the store already has
 * costs nothing. StaticIndexRepository adds the listing over a staticIndex.ts index.
 */
import type { Store } from "../core/store.js";
import { unpackRecipe } from "./recipeArchive.js";
import { type BlobRef, candidateOf, newestFirst, type PackageMeta, type Repository } from "./repository.js";
import type { Candidate } from "./resolver.js";
import { type StaticIndex, searchIndex } from "./staticIndex.js";

export abstract class BlobRepository {
  abstract readonly spec: string;
  protected abstract readonly store: Store;

  abstract list(name: string): Promise<PackageMeta[]>;

  /**
   * Contract: put the blob `ref` of package `meta` into the store and return its store path, verified
   * against `ref.sha256` (KILN_EDIGEST naming `what` otherwise, nothing kept). Called only when the store
   * does not have the digest yet.
   */
  protected abstract fetchBlob(meta: PackageMeta, ref: BlobRef, what: string): Promise<string>;

  private async blob(meta: PackageMeta, ref: BlobRef, what: string): Promise<string> {
    if (await this.store.has(ref.sha256)) return this.store.blobPath(ref.sha256);
    return this.fetchBlob(meta, ref, what);
  }

  async versions(name: string): Promise<Candidate[]> {
    return (await this.list(name)).map(candidateOf);
  }

  async fetchRecipe(meta: PackageMeta): Promise<string> {
    await this.blob(meta, meta.recipe, `the recipe of ${meta.name} ${meta.version}`);
    return unpackRecipe(this.store, meta.recipe.sha256);
  }

  async fetchArtifact(meta: PackageMeta): Promise<string | undefined> {
    if (!meta.artifact) return undefined;
    return this.blob(meta, meta.artifact, `the build of ${meta.name} ${meta.version}`);
  }
}

/** A published repository in the static layout: everything it lists comes from one index, read once. */
export abstract class StaticIndexRepository
  extends BlobRepository
  implements Pick<Repository, "list" | "search">
{
  private index: Promise<StaticIndex> | undefined;

  /** Contract: read and parse the index (KILN_EREPO_INDEX when malformed); called once until `forget`. */
  protected abstract readIndex(): Promise<StaticIndex>;

  protected load(): Promise<StaticIndex> {
    this.index ??= this.readIndex();
    return this.index;
  }

  /** The index changed (a publish): read it again on the next question. */
  protected forget(): void {
    this.index = undefined;
  }

  async list(name: string): Promise<PackageMeta[]> {
    return newestFirst((await this.load()).packages.get(name) ?? []);
  }

  async search(term: string): Promise<PackageMeta[]> {
    return searchIndex(await this.load(), term);
  }
}
