/**
 * Image references as Docker and the OCI distribution spec write them: `host[:port]/repo[:tag][@sha256:…]`.
 * A first component without `.` or `:` that is not `localhost` is a Docker Hub path (`docker.io`, with
 * `library/` for single names), as every other client reads it. No tag and no digest means `latest`.
 */
import { q, usageError } from "../errors.js";
import { DIGEST_RE } from "./ociTypes.js";

export interface Reference {
  /** Registry host as written (`127.0.0.1:5000`, `ghcr.io`), `docker.io` for Docker Hub. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const HOST = /^(?:\[[0-9a-fA-F:]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d{1,5})?$/;

export function parseReference(text: string): Reference {
  const bad = (why: string) =>
    usageError(
      "KILN_EREF_INVALID",
      `Cannot parse image reference ${q(text)}: ${why}`,
      "Write HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/hello:1.0.",
    );
  if (!text || /\s/.test(text)) throw bad("it is empty or has spaces");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest))
      throw bad(`the digest ${q(digest)} is not sha256: and 64 lowercase hex digits`);
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag ${q(tag)} is not a valid tag`);
  }
  const parts = rest.split("/");
  let registry = "docker.io";
  const first = parts[0] ?? "";
  if (
    parts.length > 1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("["))
  ) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw bad(`the registry host ${q(registry)} is not a host name`);
  }
  if (registry === "docker.io" && parts.length === 1) parts.unshift("library");
  const repository = parts.join("/");
  if (!repository || parts.some((p) => !COMPONENT.test(p))) {
    throw bad(`the repository ${q(repository)} must be lowercase letters, digits and . _ - separated by /`);
  }
  if (repository.length > 255) throw bad("the repository name is longer than 255 characters");
  if (!tag && !digest) tag = "latest";
  return { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The tag or digest a manifest request names: the digest wins when both are given. */
export function referenceTarget(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** Hosts spoken to over plain HTTP unless told otherwise: the loopback ones (as Docker does). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * `http` or `https` for a registry: `insecure` (the --insecure flag) forces http, and so does naming the
 * host in KILN_INSECURE_REGISTRIES (comma-separated); loopback hosts default to http.
 */
export function registryScheme(
  registry: string,
  opts: { insecure?: boolean; env?: NodeJS.ProcessEnv } = {},
): "http" | "https" {
  if (opts.insecure) return "http";
  const list = (opts.env ?? process.env).KILN_INSECURE_REGISTRIES ?? "";
  if (
    list
      .split(",")
      .map((s) => s.trim())
      .includes(registry)
  ) {
    return "http";
  }
  return isLoopbackHost(registry) ? "http" : "https";
}

/** Where the API really lives: Docker Hub's API host is not docker.io. */
export function registryEndpoint(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}
