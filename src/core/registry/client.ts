/**
 * A client for one OCI distribution (v1.1) registry, over Node's fetch. Content-addressed and generic:
 * blobs and manifests by digest, manifests by tag, tag lists; no referrers. It authenticates lazily: a 401
 * answer's WWW-Authenticate challenge picks Bearer (token service) or Basic, with credentials from the
 * Docker configuration, and the request is sent again once.
 *
 * Contract: everything read from the registry is checked against its digest before it is returned or
 * renamed into place (KILN_EDIGEST); a refusal is a KILN_EREGISTRY_* error with the HTTP status and the
 * registry's own message; a broken connection is KILN_EREGISTRY_IO (or _UNREACHABLE before any answer); a
 * registry that stops answering is KILN_EREGISTRY_TIMEOUT naming the phase (timeouts.ts).
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { sha256 } from "../digest.js";
import { KilnError, q } from "../errors.js";
import { fsError, isFsError } from "../fsError.js";
import { tcpConnect } from "../tcpConnect.js";
import { testPause } from "../testPause.js";
import { KILN_VERSION } from "../version.js";
import {
  basicHeader,
  type Challenge,
  type Credentials,
  dockerCredentials,
  fetchToken,
  parseChallenges,
  type Token,
} from "./auth.js";
import { DIGEST_RE, MANIFEST_ACCEPT } from "./ociTypes.js";
import { registryEndpoint, registryScheme } from "./reference.js";
import { registryError, registryIoError } from "./registryError.js";
import {
  DEFAULT_TIMEOUTS,
  type RegistryTimeouts,
  registryTimeoutError,
  type TimeoutPhase,
} from "./timeouts.js";
import { digestError, writeVerified } from "./verifiedWrite.js";

/** Bytes to upload: in memory, or a range of a file (a blob inside an oci-archive tar). */
export interface BlobSource {
  digest: string;
  size: number;
  mediaType?: string;
  data?: Uint8Array;
  path?: string;
  /** Where the blob starts in `path` (default 0). */
  offset?: number;
}

export interface RegistryClientOptions {
  /** Plain http even for non-loopback hosts (--insecure). */
  insecure?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Explicit credentials; null means anonymous only; undefined reads the Docker configuration. */
  credentials?: Credentials | null;
  /** Blobs up to this size go up in one PUT; bigger ones in PATCH chunks (default 64 MiB). */
  monolithicMax?: number;
  /** Chunk size for chunked uploads (default 16 MiB). */
  chunkSize?: number;
  /** kiln's own time limits (timeouts.ts); each phase not given keeps its default. */
  timeouts?: Partial<RegistryTimeouts>;
}

/** One request's clock: which phase it is in, and how to stop it when that phase takes too long. */
interface Watch {
  ac: AbortController;
  what: string;
  timer?: NodeJS.Timeout;
  /** Set when a time limit ended the request. */
  expired?: TimeoutPhase;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Manifests above this are refused: the distribution spec lets registries stop at 4 MiB too. */
const MANIFEST_MAX = 4 * 1024 * 1024;

/** Errors that mean a connection broke after it was made (everything else: it could not be made). */
const BROKEN = new Set([
  "ECONNRESET",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

interface Send {
  method: string;
  url: string;
  repo: string;
  push?: boolean;
  /** The token scope, when not the repository's (the catalogue's is registry:catalog:*). */
  scope?: string;
  headers?: Record<string, string>;
  /** Called for each attempt: a stream can be read only once. */
  body?: () => Uint8Array | ReadableStream | undefined;
  what: string;
}

export class RegistryClient {
  readonly registry: string;
  readonly base: string;
  private readonly opts: RegistryClientOptions;
  private credsPromise: Promise<Credentials | undefined> | undefined;
  private readonly tokens = new Map<string, Token>();
  private basic = false;
  private readonly timeouts: RegistryTimeouts;
  private connectCheck: Promise<void> | undefined;
  /** The clock of each answer whose body may still be read. */
  private readonly watches = new WeakMap<Response, Watch>();

  constructor(registry: string, opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.opts = opts;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    const scheme = registryScheme(registry, { insecure: opts.insecure, env: opts.env });
    this.base = `${scheme}://${registryEndpoint(registry)}`;
  }

  private creds(): Promise<Credentials | undefined> {
    if (this.opts.credentials !== undefined) return Promise.resolve(this.opts.credentials ?? undefined);
    this.credsPromise ??= dockerCredentials(this.registry, this.opts.env);
    return this.credsPromise;
  }

  private label(repo: string, target?: string): string {
    if (!target) return q(`${this.registry}/${repo}`);
    return q(`${this.registry}/${repo}${DIGEST_RE.test(target) ? "@" : ":"}${target}`);
  }

  private async authHeader(scope: string): Promise<string | undefined> {
    const t = this.tokens.get(scope);
    if (t && t.expires > performance.now()) return t.header;
    if (this.basic) {
      const c = await this.creds();
      if (c) return basicHeader(c);
    }
    return undefined;
  }

  /** Answer a 401's challenge; false when nothing more can be tried. */
  private async authenticate(header: string, scope: string): Promise<boolean> {
    const challenges = parseChallenges(header);
    const bearer = challenges.find((c: Challenge) => c.scheme === "bearer");
    const creds = await this.creds();
    if (bearer) {
      // A token we sent was refused (expired early, or too narrow): ask for a fresh one, once.
      this.tokens.delete(scope);
      const tokenMs = this.timeouts.connectMs + this.timeouts.headersMs;
      this.tokens.set(scope, await fetchToken(bearer, scope, creds, this.registry, tokenMs));
      return true;
    }
    if (challenges.some((c) => c.scheme === "basic") && creds && !this.basic) {
      this.basic = true;
      return true;
    }
    return false;
  }

  /** Start (or restart) the clock of `phase`; when it runs out the request is aborted. */
  private arm(w: Watch, phase: TimeoutPhase): void {
    clearTimeout(w.timer);
    const ms = this.limit(phase);
    w.timer = setTimeout(() => {
      w.expired = phase;
      w.ac.abort(registryTimeoutError(this.registry, phase, ms, w.what));
    }, ms);
    w.timer.unref();
  }

  private limit(phase: TimeoutPhase): number {
    return {
      connect: this.timeouts.connectMs,
      headers: this.timeouts.headersMs,
      stall: this.timeouts.stallMs,
    }[phase];
  }

  /** fetch does not say how long connecting took: a TCP connection is tried once per client first. */
  private checkConnect(what: string): Promise<void> {
    this.connectCheck ??= (async () => {
      const u = new URL(this.base);
      const port = Number(u.port) || (u.protocol === "https:" ? 443 : 80);
      if (
        (await tcpConnect(u.hostname.replace(/^\[|\]$/g, ""), port, this.timeouts.connectMs)).kind ===
        "timeout"
      )
        throw registryTimeoutError(this.registry, "connect", this.timeouts.connectMs, what);
    })();
    return this.connectCheck;
  }

  /**
   * A body on its way up, watched: each chunk taken restarts the stall clock, and the wait for the answer
   * starts only once the last chunk is taken (a big upload may take longer than any answer should).
   */
  private watchUpload(body: ReadableStream, w: Watch): ReadableStream {
    const reader = body.getReader();
    return new ReadableStream(
      {
        pull: async (c) => {
          this.arm(w, "stall");
          const { done, value } = await reader.read();
          if (!done) return c.enqueue(value);
          c.close();
          this.arm(w, "headers");
        },
        cancel: (why) => reader.cancel(why),
      },
      { highWaterMark: 0 },
    );
  }

  /** The body of an answer, watched: a pause longer than the stall limit ends it with a timeout. */
  private watchedBody(res: Response): ReadableStream<Uint8Array> | null {
    const w = this.watches.get(res);
    if (!res.body || !w) return res.body;
    const reader = res.body.getReader();
    return new ReadableStream<Uint8Array>(
      {
        pull: async (c) => {
          // Only the wait for the network counts: a slow reader (a slow disk) is not a stalled registry.
          this.arm(w, "stall");
          try {
            const { done, value } = await reader.read();
            if (done) c.close();
            else c.enqueue(value);
          } finally {
            clearTimeout(w.timer);
          }
        },
        cancel: (why) => {
          clearTimeout(w.timer);
          return reader.cancel(why);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** A body that broke: a timeout when the clock ended it, a broken connection otherwise. */
  private bodyError(res: Response, what: string, e: unknown): KilnError {
    const w = this.watches.get(res);
    if (w?.expired) return registryTimeoutError(this.registry, w.expired, this.limit(w.expired), what);
    return registryIoError(this.registry, what, e, true);
  }

  /** An error answer's text (at most 64 KiB; "" when it cannot be read). */
  private async textOf(res: Response, what: string): Promise<string> {
    return (await this.readBody(res, 64 * 1024, what).catch(() => Buffer.alloc(0))).toString("utf8");
  }

  private async send(r: Send): Promise<Response> {
    const scope = r.scope ?? `repository:${r.repo}:${r.push ? "pull,push" : "pull"}`;
    await this.checkConnect(r.what);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { "user-agent": `kiln/${KILN_VERSION}`, ...r.headers };
      const auth = await this.authHeader(scope);
      if (auth) headers.authorization = auth;
      const w: Watch = { ac: new AbortController(), what: r.what };
      const raw = r.body?.();
      const body = raw instanceof ReadableStream ? this.watchUpload(raw, w) : raw;
      if (body === raw) this.arm(w, "headers");
      let res: Response;
      try {
        res = await fetch(r.url, {
          method: r.method,
          headers,
          ...(body ? { body, duplex: "half" } : {}),
          redirect: "follow",
          signal: w.ac.signal,
        } as RequestInit);
      } catch (e) {
        if (w.expired) throw registryTimeoutError(this.registry, w.expired, this.limit(w.expired), r.what);
        const cause = (e as Error).cause as NodeJS.ErrnoException | undefined;
        if (cause?.code === "UND_ERR_CONNECT_TIMEOUT")
          throw registryTimeoutError(this.registry, "connect", this.timeouts.connectMs, r.what);
        if (cause?.message === "bad port") {
          throw new KilnError(
            "KILN_EREGISTRY_UNREACHABLE",
            `Cannot reach registry ${q(this.registry)}: fetch refuses to connect to port ${new URL(r.url).port}`,
            'That port is on the WHATWG fetch "bad ports" list (as in browsers); run the registry on another port.',
          );
        }
        // An upload that cannot read its own file is a local fault, not the registry's.
        if (isFsError(cause)) throw fsError(cause);
        const code = cause?.code ?? "";
        throw registryIoError(this.registry, r.what, e, BROKEN.has(code));
      } finally {
        clearTimeout(w.timer);
      }
      this.watches.set(res, w);
      if (res.status === 401 && attempt === 0) {
        const challenge = res.headers.get("www-authenticate") ?? "";
        const text = await this.textOf(res, r.what);
        if (await this.authenticate(challenge, scope)) continue;
        throw registryError(401, text, r.what, this.registry, (await this.creds()) !== undefined);
      }
      return res;
    }
  }

  private async fail(res: Response, what: string): Promise<KilnError> {
    const text = await this.textOf(res, what);
    return registryError(res.status, text, what, this.registry, (await this.creds()) !== undefined);
  }

  /** Read a whole (small) answer, turning a broken connection into KILN_EREGISTRY_IO. */
  private async readBody(res: Response, max: number, what: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      const body = this.watchedBody(res);
      if (!body) return Buffer.alloc(0);
      // Leaving the loop (a throw included) cancels the body.
      for await (const c of body as unknown as AsyncIterable<Uint8Array>) {
        n += c.length;
        if (n > max) {
          throw new KilnError(
            "KILN_EREGISTRY_TOO_BIG",
            `Registry ${q(this.registry)} sent more than ${max} bytes for ${what}`,
            "This is not a manifest or config kiln can use; check the reference.",
          );
        }
        chunks.push(Buffer.from(c));
      }
    } catch (e) {
      if (e instanceof KilnError) throw e;
      throw this.bodyError(res, what, e);
    }
    return Buffer.concat(chunks);
  }

  private url(repo: string, kind: "blobs" | "manifests", target: string): string {
    return `${this.base}/v2/${repo}/${kind}/${target}`;
  }

  /** Whether the registry has the blob (HEAD). */
  async hasBlob(repo: string, digest: string, forPush = false): Promise<boolean> {
    const what = `blob ${this.label(repo, digest)}`;
    const res = await this.send({
      method: "HEAD",
      url: this.url(repo, "blobs", digest),
      repo,
      push: forPush,
      what,
    });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.fail(res, what);
  }

  /** Download a blob into `dest`, verified against `digest` (and `size` when given) before it lands. */
  async fetchBlob(
    repo: string,
    digest: string,
    dest: string,
    opts: { size?: number; mode?: number } = {},
  ): Promise<number> {
    checkDigest(digest);
    const what = `blob ${this.label(repo, digest)}`;
    const res = await this.send({ method: "GET", url: this.url(repo, "blobs", digest), repo, what });
    if (res.status !== 200) throw await this.fail(res, what);
    const body = this.watchedBody(res);
    if (!body) throw registryIoError(this.registry, what, new Error("no body"), true);
    const { size } = await writeVerified(
      Readable.fromWeb(body as import("node:stream/web").ReadableStream),
      dest,
      {
        digest,
        ...(opts.size === undefined ? {} : { size: opts.size }),
        ...(opts.mode === undefined ? {} : { mode: opts.mode }),
        label: what,
        onStreamError: (e) => this.bodyError(res, what, e),
      },
    );
    return size;
  }

  /** A small blob (a config) in memory, verified. */
  async readBlob(repo: string, digest: string, max = MANIFEST_MAX): Promise<Buffer> {
    checkDigest(digest);
    const what = `blob ${this.label(repo, digest)}`;
    const res = await this.send({ method: "GET", url: this.url(repo, "blobs", digest), repo, what });
    if (res.status !== 200) throw await this.fail(res, what);
    const bytes = await this.readBody(res, max, what);
    const actual = `sha256:${sha256(bytes)}`;
    if (actual !== digest) throw digestError(what, digest, actual, bytes.length);
    return bytes;
  }

  /**
   * Upload a blob unless the registry has it already (HEAD first). Monolithic (POST, then PUT with the
   * bytes) up to `monolithicMax`, chunked (PATCH with Content-Range, then PUT) above.
   */
  async pushBlob(repo: string, blob: BlobSource): Promise<{ uploaded: boolean }> {
    checkDigest(blob.digest);
    if (await this.hasBlob(repo, blob.digest, true)) return { uploaded: false };
    const what = `upload of blob ${this.label(repo, blob.digest)}`;
    const start = await this.send({
      method: "POST",
      url: `${this.base}/v2/${repo}/blobs/uploads/`,
      repo,
      push: true,
      headers: { "content-length": "0" },
      what,
    });
    if (start.status !== 202) throw await this.fail(start, what);
    await start.body?.cancel();
    await testPause("registry:upload-started");
    let location = this.location(start, what);
    const max = this.opts.monolithicMax ?? 64 * 1024 * 1024;
    const chunk = Math.max(1, this.opts.chunkSize ?? 16 * 1024 * 1024);
    let final: Response;
    if (blob.size <= max) {
      final = await this.send({
        method: "PUT",
        url: withDigest(location, blob.digest),
        repo,
        push: true,
        headers: { "content-type": "application/octet-stream", "content-length": String(blob.size) },
        body: () => bodyOf(blob, 0, blob.size),
        what,
      });
    } else {
      for (let off = 0; off < blob.size; off += chunk) {
        const end = Math.min(blob.size, off + chunk);
        const res = await this.send({
          method: "PATCH",
          url: location,
          repo,
          push: true,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(end - off),
            "content-range": `${off}-${end - 1}`,
          },
          body: () => bodyOf(blob, off, end),
          what,
        });
        if (res.status !== 202) throw await this.fail(res, what);
        await res.body?.cancel();
        location = this.location(res, what);
      }
      final = await this.send({
        method: "PUT",
        url: withDigest(location, blob.digest),
        repo,
        push: true,
        headers: { "content-length": "0" },
        what,
      });
    }
    if (final.status !== 201) throw await this.fail(final, what);
    await final.body?.cancel();
    const said = final.headers.get("docker-content-digest");
    if (said && said !== blob.digest) throw digestError(`uploaded ${what}`, blob.digest, said);
    return { uploaded: true };
  }

  private location(res: Response, what: string): string {
    const loc = res.headers.get("location");
    if (!loc) {
      throw new KilnError(
        "KILN_EREGISTRY_PROTOCOL",
        `Registry ${q(this.registry)} gave no Location for ${what}`,
        "The registry does not follow the distribution spec; tell its operator.",
      );
    }
    return new URL(loc, this.base).toString();
  }

  /** A manifest (or index) by tag or digest, checked against the digest asked for or announced. */
  async getManifest(repo: string, target: string): Promise<FetchedManifest> {
    const what = `manifest ${this.label(repo, target)}`;
    const res = await this.send({
      method: "GET",
      url: this.url(repo, "manifests", target),
      repo,
      headers: { accept: MANIFEST_ACCEPT.join(", ") },
      what,
    });
    if (res.status !== 200) throw await this.fail(res, what);
    const bytes = await this.readBody(res, MANIFEST_MAX, what);
    const digest = `sha256:${sha256(bytes)}`;
    if (DIGEST_RE.test(target) && digest !== target) throw digestError(what, target, digest, bytes.length);
    const announced = res.headers.get("docker-content-digest");
    if (announced?.startsWith("sha256:") && announced !== digest)
      throw digestError(what, announced, digest, bytes.length);
    let mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    try {
      const j = JSON.parse(bytes.toString("utf8")) as { mediaType?: string };
      if (j.mediaType) mediaType = j.mediaType;
    } catch {
      throw new KilnError(
        "KILN_EREGISTRY_PROTOCOL",
        `Registry ${q(this.registry)} sent a ${what} that is not JSON`,
        "Check the reference; the registry may not be an OCI registry.",
      );
    }
    return { digest, mediaType, bytes };
  }

  /** Store a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: string, target: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = `sha256:${sha256(bytes)}`;
    if (DIGEST_RE.test(target) && target !== digest) throw digestError("manifest to push", target, digest);
    const what = `push of manifest ${this.label(repo, target)}`;
    const res = await this.send({
      method: "PUT",
      url: this.url(repo, "manifests", target),
      repo,
      push: true,
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      body: () => bytes,
      what,
    });
    if (res.status !== 201 && res.status !== 200) throw await this.fail(res, what);
    await res.body?.cancel();
    const said = res.headers.get("docker-content-digest");
    if (said?.startsWith("sha256:") && said !== digest) throw digestError(`pushed ${what}`, digest, said);
    return digest;
  }

  /** All tags of a repository, following the Link header's pages. */
  listTags(repo: string): Promise<string[]> {
    return this.pages(`${this.base}/v2/${repo}/tags/list`, "tags", {
      repo,
      what: `tag list of ${this.label(repo)}`,
    });
  }

  /** Every repository the registry lists (/v2/_catalog, which not every registry offers). */
  listRepositories(): Promise<string[]> {
    return this.pages(`${this.base}/v2/_catalog?n=1000`, "repositories", {
      repo: "",
      scope: "registry:catalog:*",
      what: `repository list of ${q(this.registry)}`,
    });
  }

  /** A JSON list in pages, following the Link header. */
  private async pages(
    first: string,
    key: "tags" | "repositories",
    r: { repo: string; scope?: string; what: string },
  ): Promise<string[]> {
    const out: string[] = [];
    let url: string | undefined = first;
    while (url) {
      const res = await this.send({ method: "GET", url, ...r });
      if (res.status !== 200) throw await this.fail(res, r.what);
      const j = JSON.parse((await this.readBody(res, MANIFEST_MAX, r.what)).toString("utf8")) as Record<
        string,
        string[] | null | undefined
      >;
      out.push(...(j[key] ?? []));
      const next = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get("link") ?? "")?.[1];
      url = next ? new URL(next, this.base).toString() : undefined;
    }
    return out;
  }
}

function checkDigest(digest: string): void {
  if (!DIGEST_RE.test(digest)) {
    throw new KilnError(
      "KILN_EDIGEST_INVALID",
      `Cannot use digest ${q(digest)}: kiln reads only sha256:<64 hex digits>`,
      "Check the manifest or reference that named it.",
    );
  }
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set("digest", digest);
  return u.toString();
}

/** Bytes in memory above this go up as a stream, so that their upload is watched like a file's. */
const STREAM_ABOVE = 1024 * 1024;

function bodyOf(blob: BlobSource, start: number, end: number): Uint8Array | ReadableStream {
  if (blob.data) {
    const bytes = blob.data.subarray(start, end);
    if (bytes.length <= STREAM_ABOVE) return bytes;
    let at = 0;
    return new ReadableStream({
      pull(c) {
        c.enqueue(bytes.subarray(at, at + 64 * 1024));
        at += 64 * 1024;
        if (at >= bytes.length) c.close();
      },
    });
  }
  if (!blob.path) throw new Error(`blob ${blob.digest} has neither data nor path`);
  if (end === start) return new Uint8Array(0);
  const base = blob.offset ?? 0;
  return Readable.toWeb(
    createReadStream(blob.path, { start: base + start, end: base + end - 1 }),
  ) as ReadableStream;
}
