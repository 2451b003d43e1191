/**
 * Packages in an OCI registry, through src/core/registry's client (bearer or basic auth from the Docker
 * configuration). `oci://HOST[:PORT][/NAMESPACE]`: package NAME is the repository NAMESPACE/NAME, each
 * version a tag (semver's '+' written '_', as tags allow). One version is an OCI artifact:
 *
 *   manifest  artifactType application/vnd.kiln.package.v1
 *   config    application/vnd.kiln.package.config.v1+json   the PackageMeta, as JSON
 *   layers    application/vnd.kiln.package.recipe.v1.tar     the recipe archive
 *             application/vnd.kiln.package.artifact.v1.tar   the built files (when published with a build)
 *
 * Every blob is checked against its digest by the client before it reaches the store, which checks again.
 */
import { join } from "node:path";
import semver from "semver";
import { sha256 } from "../core/digest.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { RegistryClient } from "../core/registry/client.js";
import { ANNOTATION, type ImageManifest, MEDIA } from "../core/registry/ociTypes.js";
import type { RegistryTimeouts } from "../core/registry/timeouts.js";
import type { Store } from "../core/store.js";
import { exists } from "./dirRepository.js";
import { BlobRepository } from "./indexRepository.js";
import {
  type BlobRef,
  newestFirst,
  type PackageMeta,
  type Publishable,
  type PublishResult,
  type Repository,
} from "./repository.js";
import { parseMeta } from "./staticIndex.js";

export const PKG_MEDIA = {
  artifact: "application/vnd.kiln.package.v1",
  config: "application/vnd.kiln.package.config.v1+json",
  recipe: "application/vnd.kiln.package.recipe.v1.tar",
  build: "application/vnd.kiln.package.artifact.v1.tar",
} as const;

export function parseOciSpec(spec: string): { registry: string; namespace: string } {
  const m = /^oci:\/\/([^/\s]+)((?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)\/?$/.exec(spec);
  if (!m) {
    throw usageError(
      "KILN_EREPO_SPEC",
      `Cannot parse the OCI repository ${q(spec)}`,
      "Write oci://HOST[:PORT]/NAMESPACE, like oci://127.0.0.1:5000/kiln or oci://ghcr.io/me/packages.",
    );
  }
  return { registry: m[1]!, namespace: m[2]!.replace(/^\//, "") };
}

const tagOf = (version: string) => version.replace(/\+/g, "_");
const versionOf = (tag: string) => tag.replace(/_/g, "+");

export class OciRepository extends BlobRepository implements Repository {
  readonly kind = "oci" as const;
  readonly client: RegistryClient;
  private readonly namespace: string;
  private readonly cache = new Map<string, Promise<PackageMeta[]>>();

  constructor(
    readonly spec: string,
    protected readonly store: Store,
    opts: { env?: NodeJS.ProcessEnv; insecure?: boolean; timeouts?: Partial<RegistryTimeouts> } = {},
  ) {
    super();
    const { registry, namespace } = parseOciSpec(spec);
    this.namespace = namespace;
    this.client = new RegistryClient(registry, {
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.insecure ? { insecure: true } : {}),
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
    });
  }

  repo(name: string): string {
    return this.namespace ? `${this.namespace}/${name}` : name;
  }

  list(name: string): Promise<PackageMeta[]> {
    let p = this.cache.get(name);
    if (!p) {
      p = (async () => {
        let tags: string[];
        try {
          tags = await this.client.listTags(this.repo(name));
        } catch (e) {
          if (e instanceof KilnError && e.code === "KILN_EREGISTRY_NOT_FOUND") return [];
          throw e;
        }
        const metas = await Promise.all(
          tags.filter((t) => semver.valid(versionOf(t)) === versionOf(t)).map((t) => this.meta(name, t)),
        );
        return newestFirst(metas.filter((m): m is PackageMeta => m !== undefined));
      })();
      this.cache.set(name, p);
    }
    return p;
  }

  /** The metadata under one tag; undefined when the tag holds something that is not a kiln package. */
  private async meta(name: string, tag: string): Promise<PackageMeta | undefined> {
    const repo = this.repo(name);
    const m = await this.client.getManifest(repo, tag);
    const manifest = JSON.parse(m.bytes.toString("utf8")) as ImageManifest;
    if (manifest.config?.mediaType !== PKG_MEDIA.config) return undefined;
    const where = `${this.client.registry}/${repo}:${tag}`;
    const meta = parseMeta(
      JSON.parse((await this.client.readBlob(repo, manifest.config.digest)).toString("utf8")),
      where,
    );
    if (meta.name !== name || tagOf(meta.version) !== tag) {
      throw new KilnError(
        "KILN_EREPO_INDEX",
        `The package at ${q(where)} says it is ${meta.name} ${meta.version}`,
        "The registry holds a package under the wrong name or tag; publish it again.",
      );
    }
    return meta;
  }

  /** Search needs the registry's catalogue (/v2/_catalog), which not every registry offers. */
  async search(term: string): Promise<PackageMeta[]> {
    const repositories = await this.client.listRepositories().catch((e: unknown) => {
      const status = e instanceof KilnError ? e.details?.status : undefined;
      if (typeof status !== "number") throw e;
      throw new KilnError(
        "KILN_EREGISTRY_UNSUPPORTED",
        `Registry ${q(this.client.registry)} does not list its repositories (${status} for /v2/_catalog)`,
        "Ask for a package by name: kiln pkg info NAME --repo ...",
      );
    });
    const prefix = this.namespace ? `${this.namespace}/` : "";
    const t = term.toLowerCase();
    const out: PackageMeta[] = [];
    for (const r of repositories.sort()) {
      if (!r.startsWith(prefix) || r.slice(prefix.length).includes("/")) continue;
      const name = r.slice(prefix.length);
      const newest = (await this.list(name))[0];
      if (newest && (!t || name.includes(t) || (newest.description ?? "").toLowerCase().includes(t)))
        out.push(newest);
    }
    return out;
  }

  protected fetchBlob(meta: PackageMeta, ref: BlobRef): Promise<string> {
    return this.store.withTmpDir(async (dir) => {
      const tmp = join(dir, "blob");
      await this.client.fetchBlob(this.repo(meta.name), `sha256:${ref.sha256}`, tmp, { size: ref.size });
      return (await this.store.put(tmp, ref.sha256)).path;
    });
  }

  async publish(pkg: Publishable, opts: { replace?: boolean } = {}): Promise<PublishResult> {
    const m = pkg.meta;
    const repo = this.repo(m.name);
    const tag = tagOf(m.version);
    const config = Buffer.from(JSON.stringify(m));
    const layers = [
      {
        mediaType: PKG_MEDIA.recipe,
        digest: `sha256:${m.recipe.sha256}`,
        size: m.recipe.size,
        annotations: { [ANNOTATION.title]: "recipe.tar" },
      },
      ...(m.artifact && pkg.artifactPath
        ? [
            {
              mediaType: PKG_MEDIA.build,
              digest: `sha256:${m.artifact.sha256}`,
              size: m.artifact.size,
              annotations: { [ANNOTATION.title]: "artifact.tar" },
            },
          ]
        : []),
    ];
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      artifactType: PKG_MEDIA.artifact,
      config: { mediaType: PKG_MEDIA.config, digest: `sha256:${sha256(config)}`, size: config.length },
      layers,
      annotations: {
        [ANNOTATION.title]: m.name,
        [ANNOTATION.version]: m.version,
        [ANNOTATION.licenses]: m.license,
        ...(m.description ? { [ANNOTATION.description]: m.description } : {}),
      },
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = `sha256:${sha256(bytes)}`;
    const old = (await this.list(m.name)).find((x) => x.version === m.version);
    if (old) {
      const current = await this.client.getManifest(repo, tag);
      if (current.digest === digest) {
        return this.result(m, digest, false);
      }
      if (!opts.replace) throw exists(this.spec, m, old);
    }
    await this.client.pushBlob(repo, { digest: manifest.config.digest, size: config.length, data: config });
    await this.client.pushBlob(repo, {
      digest: layers[0]!.digest,
      size: m.recipe.size,
      path: pkg.recipePath,
    });
    if (layers[1])
      await this.client.pushBlob(repo, {
        digest: layers[1].digest,
        size: layers[1].size,
        path: pkg.artifactPath!,
      });
    await this.client.putManifest(repo, tag, bytes, MEDIA.manifest);
    this.cache.delete(m.name);
    return this.result(m, digest, true);
  }

  private result(m: PackageMeta, digest: string, changed: boolean): PublishResult {
    return {
      repository: this.spec,
      name: m.name,
      version: m.version,
      recipe: m.recipe.sha256,
      ...(m.artifact ? { artifact: m.artifact.sha256 } : {}),
      digest,
      changed,
    };
  }
}
