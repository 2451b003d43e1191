/**
 * A directory of recipe folders (kiln's packages/, or any checkout of recipes): every DIR/*\/kiln.toml with a
 * name is one version of a package. Nothing is prebuilt; recipes are built here. Read-only: publish to a
 * published directory or a registry instead.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Store } from "../core/store.js";
import { type LoadedRecipe, loadToml } from "./loadRecipe.js";
import { isRecipe } from "./recipe.js";
import { recipeArchive, recipeMeta } from "./recipeArchive.js";
import { candidateOf, newestFirst, type PackageMeta, type Repository } from "./repository.js";
import type { Candidate } from "./resolver.js";

export class RecipesRepository implements Repository {
  readonly kind = "recipes" as const;
  private recipes: Promise<Map<string, LoadedRecipe[]>> | undefined;
  private readonly metas = new Map<string, Promise<PackageMeta[]>>();
  private readonly dirs = new Map<string, string>();

  constructor(
    readonly spec: string,
    readonly root: string,
    private readonly store: Store,
  ) {}

  private all(): Promise<Map<string, LoadedRecipe[]>> {
    this.recipes ??= (async () => {
      const out = new Map<string, LoadedRecipe[]>();
      const names = (await readdir(this.root)).sort();
      for (const n of names) {
        const dir = join(this.root, n);
        if (!(await stat(join(dir, "kiln.toml")).catch(() => undefined))) continue;
        const t = await loadToml(dir);
        if (!isRecipe(t.toml)) continue;
        const list = out.get(t.toml.name) ?? [];
        list.push(t as LoadedRecipe);
        out.set(t.toml.name, list);
      }
      return out;
    })();
    return this.recipes;
  }

  list(name: string): Promise<PackageMeta[]> {
    let m = this.metas.get(name);
    if (!m) {
      m = (async () => {
        const out: PackageMeta[] = [];
        for (const r of (await this.all()).get(name) ?? []) {
          const archive = await recipeArchive(r.dir, this.store);
          this.dirs.set(archive.sha256, r.dir);
          out.push(await recipeMeta(r, archive));
        }
        return newestFirst(out);
      })();
      this.metas.set(name, m);
    }
    return m;
  }

  async versions(name: string): Promise<Candidate[]> {
    return (await this.list(name)).map(candidateOf);
  }

  async search(term: string): Promise<PackageMeta[]> {
    const t = term.toLowerCase();
    const out: PackageMeta[] = [];
    for (const name of [...(await this.all()).keys()].sort()) {
      const newest = (await this.list(name))[0];
      if (newest && (!t || name.includes(t) || (newest.description ?? "").toLowerCase().includes(t)))
        out.push(newest);
    }
    return out;
  }

  async fetchRecipe(meta: PackageMeta): Promise<string> {
    await this.list(meta.name);
    const dir = this.dirs.get(meta.recipe.sha256);
    if (dir) return dir;
    const { unpackRecipe } = await import("./recipeArchive.js");
    return unpackRecipe(this.store, meta.recipe.sha256);
  }

  async fetchArtifact(): Promise<undefined> {
    return undefined;
  }
}
