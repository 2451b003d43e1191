/**
 * A published repository in a local directory (staticIndex.ts layout). Publishing copies the blobs in,
 * then replaces index.json with one rename, under a lock file in the directory, so that readers and other
 * publishers see each version whole or not at all.
 */
import { copyFile, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { withLock } from "../core/lockFile.js";
import { scratchBeside } from "../core/scratchName.js";
import type { Store } from "../core/store.js";
import { StaticIndexRepository } from "./indexRepository.js";
import type { BlobRef, PackageMeta, Publishable, PublishResult, Repository } from "./repository.js";
import { blobRel, INDEX_FILE, parseIndex, renderIndex, type StaticIndex } from "./staticIndex.js";
import { putVerified } from "./verifiedBlob.js";

export class DirRepository extends StaticIndexRepository implements Repository {
  readonly kind = "dir" as const;

  constructor(
    readonly spec: string,
    readonly root: string,
    protected readonly store: Store,
  ) {
    super();
  }

  protected async readIndex(): Promise<StaticIndex> {
    const file = join(this.root, INDEX_FILE);
    const text = await readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw e;
    });
    return text === undefined ? { packages: new Map() } : parseIndex(text, file);
  }

  /** Copy a blob of the repository into the store; the store checks its digest. */
  protected async fetchBlob(_meta: PackageMeta, ref: BlobRef, what: string): Promise<string> {
    const path = join(this.root, ...blobRel(ref.sha256).split("/"));
    if (!(await stat(path).catch(() => undefined))) {
      throw new KilnError(
        "KILN_EREPO_BLOB_MISSING",
        `Repository ${q(this.spec)} lists ${what} but has no blob ${ref.sha256}`,
        "The repository is incomplete; publish the package to it again.",
      );
    }
    return putVerified(this.store, path, ref.sha256, {
      message: (actual) =>
        `The blob of ${what} in repository ${q(this.spec)} is not what its index says: expected sha256 ${ref.sha256}, got ${actual}`,
      hint: "The repository was changed or damaged after publishing; nothing was kept. Publish the package again.",
    });
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
        this.forget();
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
    const tmp = await scratchBeside(dest);
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
