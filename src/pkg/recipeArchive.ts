/**
 * A recipe as one blob: its directory (kiln.toml, patches, local sources, scripts) as a deterministic tar,
 * kept in the store. Its digest names the recipe in kiln.lock, index.json and OCI manifests; the same
 * files always give the same digest. Also the metadata a repository publishes for it.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { sha256, sha256File } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import type { Store } from "../core/store.js";
import { tarBuffer } from "../core/tarWriter.js";
import type { LoadedRecipe } from "./loadRecipe.js";
import type { BlobRef, PackageMeta } from "./repository.js";
import { treeEntries } from "./treeTar.js";

/** What never belongs in a recipe archive: VCS data, kiln's own outputs. */
const SKIP = new Set([".git", ".hg", ".svn", "node_modules", ".kiln", "kiln.lock"]);

export async function recipeArchive(dir: string, store: Store): Promise<BlobRef & { path: string }> {
  const tar = await tarBuffer(
    await treeEntries(dir, { keep: (rel) => !SKIP.has(rel.split("/")[0]!), label: dir }),
  );
  const put = await store.put(tar);
  return { sha256: put.sha256, size: put.size, path: put.path };
}

/** The digest of a local `path` source: of the file's bytes, or of a directory's deterministic tar. */
export async function pathSourceDigest(recipeDir: string, rel: string): Promise<string> {
  const abs = join(recipeDir, rel);
  const st = await stat(abs).catch(() => undefined);
  if (!st) {
    throw new KilnError(
      "KILN_ESOURCE_MISSING",
      `The recipe in ${q(recipeDir)} names the source path ${q(rel)}, which does not exist`,
      "Fix the path (it is relative to the recipe's directory) or add the file.",
    );
  }
  if (st.isFile()) return sha256File(abs);
  return sha256(await tarBuffer(await treeEntries(abs, { label: abs })));
}

export async function recipeMeta(r: LoadedRecipe, recipe: BlobRef, artifact?: BlobRef): Promise<PackageMeta> {
  const t = r.toml;
  const sources: PackageMeta["sources"] = [];
  for (const s of t.sources ?? []) {
    if (s.url) sources.push({ url: s.url, sha256: s.sha256! });
    else sources.push({ path: s.path!, sha256: await pathSourceDigest(r.dir, s.path!) });
  }
  const { files: _files, ...image } = t.image ?? {};
  return {
    name: t.name,
    version: t.version,
    license: t.license,
    ...(t.description ? { description: t.description } : {}),
    dependencies: { ...(t.dependencies ?? {}) },
    buildDependencies: { ...(t["build-dependencies"] ?? {}) },
    ...(t.provides ? { provides: t.provides } : {}),
    ...(t.image ? { image } : {}),
    recipe: { sha256: recipe.sha256, size: recipe.size },
    sources,
    ...(artifact ? { artifact: { sha256: artifact.sha256, size: artifact.size } } : {}),
    ...(t.deb ? { deb: t.deb.package ?? t.name } : {}),
  };
}

/** The recipe archive with this digest (already in the store, verified) unpacked once into a store tree. */
export async function unpackRecipe(store: Store, sha: string): Promise<string> {
  const key = `recipe-${sha}`;
  if (await store.hasTree(key)) return store.treeRoot(key);
  const { createReadStream } = await import("node:fs");
  const { extractTar } = await import("../core/safeTar.js");
  const tree = await store.putTree(key, async (root) => {
    await extractTar(createReadStream(store.blobPath(sha)), root, { label: `recipe ${sha.slice(0, 12)}` });
  });
  return tree.root;
}
