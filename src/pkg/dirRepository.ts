/**
 * A published repository in a local directory (staticIndex.ts layout). Publishing copies the blobs in,
 * then replaces index.json with one rename, under a lock file in the directory, so that readers and other
 * publishers see each version whole or not at all.
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { withLock } from "../core/lockFile.js";
import type { Store } from "../core/store.js";
import { unpackRecipe } from "./recipeArchive.js";
import {
  type BlobRef,
  candidateOf,
  newestFirst,
  type PackageMeta,
  type Publishable,
  type PublishResult,
  type Repository,
} from "./repository.js";
import type { Candidate } from "./resolver.js";
import {
  blobRel,
  INDEX_FILE,
  parseIndex,
  renderIndex,
  type StaticIndex,
  searchIndex,
} from "./staticIndex.js";

export class DirRepository implements Repository {
  readonly kind = "dir" as const;
  private index: Promise<StaticIndex> | undefined;

  constructor(
    readonly spec: string,
    readonly root: string,
    private readonly store: Store,
  ) {}

  private async readIndex(): Promise<StaticIndex> {
    const file = join(this.root, INDEX_FILE);
    const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw e;
    });
    return text === undefined ? { packages: new Map() } : parseIndex(text, file);
  }

  private load(): Promise<StaticIndex> {
    this.index ??= this.readIndex();
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

  /** Copy a blob of the repository into the store; the store checks its digest. */
  private async blob(ref: BlobRef, what: string): Promise<string> {
    if (await this.store.has(ref.sha256)) return this.store.blobPath(ref.sha256);
    const path = join(this.root, ...blobRel(ref.sha256).split("/"));
    if (!(await stat(path).catch(() => undefined))) {
      throw new KilnError(
        "KILN_EREPO_BLOB_MISSING",
        `Repository ${q(this.spec)} lists ${what} but has no blob ${ref.sha256}`,
        "The repository is incomplete; publish the package to it again.",
      );
    }
    try {
      return (await this.store.put(path, ref.sha256)).path;
    } catch (e) {
      if (e instanceof KilnError && e.code === "KILN_EDIGEST") {
        throw new KilnError(
          "KILN_EDIGEST",
          `The blob of ${what} in repository ${q(this.spec)} is not what its index says: expected sha256 ${ref.sha256}, got ${(e.details as { actual: string }).actual}`,
          "The repository was changed or damaged after publishing; nothing was kept. Publish the package again.",
          { details: e.details },
        );
      }
      throw e;
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

  async publish(pkg: Publishable, opts: { replace?: boolean } = {}): Promise<PublishResult> {
    await mkdir(this.root, { recursive: true });
    return withLock(
      join(this.root, ".kiln-publish.lock"),
      async () => {
        const index = await this.readIndex();
        const m = pkg.meta;
        const list = index.packages.get(m.name) ?? [];
        const old = list.find((x) => x.version === m.version);
        const same =
          old &&
          old.recipe.sha256 === m.recipe.sha256 &&
          (old.artifact?.sha256 ?? "") === (m.artifact?.sha256 ?? "");
        if (old && !same && !opts.replace) throw exists(this.spec, m, old);
        await this.copyBlob(pkg.recipePath, m.recipe.sha256);
        if (pkg.artifactPath && m.artifact) await this.copyBlob(pkg.artifactPath, m.artifact.sha256);
        if (!same) {
          index.packages.set(m.name, [...list.filter((x) => x.version !== m.version), m]);
          await writeFileAtomic(join(this.root, INDEX_FILE), renderIndex(index));
        }
        this.index = undefined;
        const text = await readFile(join(this.root, INDEX_FILE), "utf8");
        return {
          repository: this.spec,
          name: m.name,
          version: m.version,
          recipe: m.recipe.sha256,
          ...(m.artifact ? { artifact: m.artifact.sha256 } : {}),
          digest: `sha256:${sha256(text)}`,
          changed: !same,
        };
      },
      { what: `repository ${this.spec}` },
    );
  }

  private async copyBlob(from: string, sha: string): Promise<void> {
    const dest = join(this.root, ...blobRel(sha).split("/"));
    if (await stat(dest).catch(() => undefined)) return;
    await mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await copyFile(from, tmp);
      await rename(tmp, dest);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

export function exists(spec: string, m: PackageMeta, old: PackageMeta): KilnError {
  return usageError(
    "KILN_EPUBLISH_EXISTS",
    `Repository ${q(spec)} already has ${m.name} ${m.version} with other content (recipe ${old.recipe.sha256.slice(0, 12)}, yours ${m.recipe.sha256.slice(0, 12)})`,
    "Publish a new version (raise `version` in kiln.toml), or add --replace to overwrite it.",
  );
}
