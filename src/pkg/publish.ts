/**
 * `kiln pkg publish REPO [DIR]`: build the recipe in DIR (its dependencies resolved and installed as for
 * `kiln pkg build`), then hand the recipe archive and the artifact to the repository, which adds the
 * version atomically. Debian-sourced recipes publish their recipe only (the Debian packages come from apt).
 */
import { KilnError, q } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { type InstallOptions, type InstallReport, installProject } from "./install.js";
import { openRepository } from "./openRepository.js";
import type { PublishResult } from "./repository.js";

export interface PublishOptions extends InstallOptions {
  /** Replace a version that is there with other content. */
  replace?: boolean;
  /** Publish the recipe without a build. */
  recipeOnly?: boolean;
}

export async function publishRecipe(
  target: string,
  opts: PublishOptions,
): Promise<PublishResult & { build: InstallReport }> {
  const env = opts.env ?? process.env;
  const store = openStore(env);
  const repo = await openRepository(target, store, {
    forPublish: true,
    env,
    ...(opts.insecure ? { insecure: true } : {}),
    ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
  });
  if (!repo.publish) {
    throw new KilnError(
      "KILN_EREPO_READONLY",
      `Cannot publish to ${q(target)}: ${repo.kind === "http" ? "an HTTP repository is read-only" : "a directory of recipe folders is not a published repository"}`,
      repo.kind === "http"
        ? "Publish to the directory the server serves (kiln pkg publish DIR), then the server offers it."
        : "Publish to an empty directory, one with index.json, or oci://HOST/NAMESPACE.",
    );
  }
  const build = await installProject({ ...opts, self: true });
  const self = build.self!;
  const meta = opts.recipeOnly || !self.artifact ? { ...self.meta, artifact: undefined } : self.meta;
  if (!meta.artifact) delete meta.artifact;
  opts.progress?.step(`publishing ${meta.name} ${meta.version} to ${target}`);
  const r = await repo.publish(
    {
      meta,
      recipePath: store.blobPath(self.recipe),
      ...(meta.artifact ? { artifactPath: self.artifactPath } : {}),
    },
    { ...(opts.replace ? { replace: true } : {}) },
  );
  opts.progress?.done();
  return { ...r, build };
}
