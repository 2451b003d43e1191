/**
 * Registry authentication: credentials from the user's Docker configuration, the WWW-Authenticate
 * challenge, and the bearer-token exchange of the distribution token spec (GET realm?service&scope with
 * Basic credentials when there are any; the answer's `token` or `access_token`).
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { KilnError, q } from "../errors.js";
import { exec } from "../exec.js";
import { DEFAULT_TIMEOUTS, registryTimeoutError } from "./timeouts.js";

export interface Credentials {
  username: string;
  password: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return join(env.HOME || homedir(), ".docker", "config.json");
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The keys `docker login` may have written for a registry host. */
function configKeys(registry: string): string[] {
  const keys = [
    registry,
    `https://${registry}`,
    `http://${registry}`,
    `https://${registry}/v1/`,
    `https://${registry}/v2/`,
  ];
  if (registry === "docker.io")
    keys.push("https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io");
  return keys;
}

/**
 * Credentials for a registry host from the Docker configuration: `auths[host].auth` (base64 user:pass), or
 * a credential helper (`credHelpers[host]`, `credsStore`) run as `docker-credential-NAME get`.
 * No configuration, or nothing for this host, is not an error: anonymous access is tried.
 */
export async function dockerCredentials(
  registry: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  const path = dockerConfigPath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return undefined;
  }
  let cfg: DockerConfig;
  try {
    cfg = JSON.parse(text) as DockerConfig;
  } catch (e) {
    throw new KilnError(
      "KILN_EDOCKER_CONFIG",
      `Cannot parse Docker configuration ${q(path)}: not JSON`,
      "Fix or remove the file (`docker login` rewrites it), or point DOCKER_CONFIG elsewhere.",
      { cause: e },
    );
  }
  for (const key of configKeys(registry)) {
    const entry = cfg.auths?.[key];
    if (!entry) continue;
    if (entry.auth) {
      const plain = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = plain.indexOf(":");
      if (colon < 0) {
        throw new KilnError(
          "KILN_EDOCKER_CONFIG",
          `Cannot read the credentials for ${q(key)} in ${q(path)}: "auth" is not base64 of user:password`,
          "Log in again (`docker login`) or fix the entry.",
        );
      }
      return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  const helper =
    configKeys(registry)
      .map((k) => cfg.credHelpers?.[k])
      .find(Boolean) ?? cfg.credsStore;
  if (!helper) return undefined;
  const r = await exec(`docker-credential-${helper}`, ["get"], { input: registry, check: false, env });
  if (r.code !== 0) return undefined; // the helper has nothing for this host ("credentials not found")
  try {
    const j = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (j.Username !== undefined && j.Secret !== undefined)
      return { username: j.Username, password: j.Secret };
  } catch {}
  throw new KilnError(
    "KILN_EDOCKER_CONFIG",
    `Credential helper ${q(`docker-credential-${helper}`)} gave no usable answer for ${q(registry)}`,
    "Run it by hand (`echo HOST | docker-credential-NAME get`) and check its output.",
  );
}

/** Parse a WWW-Authenticate header: one or more `Scheme k="v", k2=v2` challenges. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  const n = header.length;
  let i = 0;
  const skip = () => {
    while (i < n && /[\s,]/.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    while (i < n && /[^\s,=]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  for (;;) {
    skip();
    if (i >= n) break;
    const word = token();
    if (!word) {
      i++;
      continue;
    }
    let j = i;
    while (header[j] === " ") j++;
    if (header[j] === "=" && current) {
      i = j + 1;
      while (header[i] === " ") i++;
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === "\\" && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        value = token();
      }
      current.params[word.toLowerCase()] = value;
    } else {
      // A word not followed by "=" starts the next challenge.
      current = { scheme: word.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}

export interface Token {
  header: string;
  /** performance.now() after which the token is not reused. */
  expires: number;
}

/** Exchange credentials (or nothing) for a bearer token at the challenge's realm. */
export async function fetchToken(
  challenge: Challenge,
  scope: string,
  creds: Credentials | undefined,
  registry: string,
  /** The whole exchange (a token is a few hundred bytes): a token service that hangs must not hang kiln. */
  timeoutMs = DEFAULT_TIMEOUTS.connectMs + DEFAULT_TIMEOUTS.headersMs,
): Promise<Token> {
  const realm = challenge.params.realm;
  if (!realm) {
    throw new KilnError(
      "KILN_EREGISTRY_AUTH",
      `Registry ${q(registry)} asked for a bearer token without saying where to get one (no realm)`,
      "The registry is misconfigured; tell its operator.",
    );
  }
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new KilnError(
      "KILN_EREGISTRY_AUTH",
      `Registry ${q(registry)} names token realm ${q(realm)}, which is not a URL`,
      "The registry is misconfigured; tell its operator.",
    );
  }
  if (challenge.params.service) url.searchParams.set("service", challenge.params.service);
  // Ask for what the caller needs (pull,push when pushing) and for what the challenge named, if other.
  const scopes = new Set([scope, ...(challenge.params.scope ?? "").split(" ")].filter(Boolean));
  for (const s of scopes) url.searchParams.append("scope", s);
  const what = `a token from ${q(url.origin)}`;
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = () => registryTimeoutError(registry, "headers", timeoutMs, what);
  let res: Response;
  try {
    res = await fetch(url, { headers: creds ? { authorization: basicHeader(creds) } : {}, signal });
  } catch (e) {
    if (signal.aborted) throw timedOut();
    throw new KilnError(
      "KILN_EREGISTRY_UNREACHABLE",
      `Cannot reach the token service ${q(url.origin)} of registry ${q(registry)}: ${(e as Error).message}`,
      "Check the network and the registry's token realm.",
      { cause: e },
    );
  }
  const text = await res.text().catch((e: unknown) => {
    throw signal.aborted ? timedOut() : e;
  });
  if (!res.ok) {
    throw new KilnError(
      "KILN_EREGISTRY_AUTH",
      `Token service of ${q(registry)} refused ${creds ? `user ${q(creds.username)}` : "anonymous access"} for ${q(scope)}: ${res.status} ${text.slice(0, 200).trim()}`,
      creds
        ? "Check the credentials in your Docker configuration (`docker login` rewrites them)."
        : `Log in: put credentials for ${registry} in $DOCKER_CONFIG/config.json (\`docker login ${registry}\` writes them).`,
      { details: { status: res.status } },
    );
  }
  let j: { token?: string; access_token?: string; expires_in?: number };
  try {
    j = JSON.parse(text) as typeof j;
  } catch {
    j = {};
  }
  const token = j.token ?? j.access_token;
  if (!token) {
    throw new KilnError(
      "KILN_EREGISTRY_AUTH",
      `Token service of ${q(registry)} answered without a token`,
      "The registry is misconfigured; tell its operator.",
    );
  }
  const life = typeof j.expires_in === "number" && j.expires_in > 0 ? j.expires_in : 60;
  return { header: `Bearer ${token}`, expires: performance.now() + Math.max(1, life - 5) * 1000 };
}
