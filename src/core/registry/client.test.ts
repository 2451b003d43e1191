// The authentication handshake and error mapping, against a small registry on loopback that demands a
// token (the push/pull path itself is tested against Debian's docker-registry in test/e2e/registry.test.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isKilnError } from "../errors.js";
import { RegistryClient } from "./client.js";

const MANIFEST = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const MDIGEST = `sha256:${createHash("sha256").update(MANIFEST).digest("hex")}`;

interface Seen {
  tokenQueries: URLSearchParams[];
  authHeaders: string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer, url: URL) => void;

let server: Server;
let host = "";
let handler: Handler = () => {};
const seen: Seen = { tokenQueries: [], authHeaders: [] };
let cfgDir = "";

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => handler(req, res, Buffer.concat(chunks), new URL(req.url ?? "/", `http://${host}`)));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  host = `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
  cfgDir = mkdtempSync(join(tmpdir(), "kiln-regauth-"));
});

after(() => {
  server.close();
  rmSync(cfgDir, { recursive: true, force: true });
});

function dockerEnv(user: string, pass: string): NodeJS.ProcessEnv {
  writeFileSync(
    join(cfgDir, "config.json"),
    JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:${pass}`).toString("base64") } } }),
  );
  return { DOCKER_CONFIG: cfgDir };
}

/** A token-protected registry: /token hands out a token per scope to alice:pw. */
function bearerRegistry(blobs: Map<string, Buffer>): Handler {
  return (req, res, body, url) => {
    if (url.pathname === "/token") {
      seen.tokenQueries.push(url.searchParams);
      if (req.headers.authorization !== `Basic ${Buffer.from("alice:pw").toString("base64")}`) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
        return;
      }
      const scopes = url.searchParams.getAll("scope").join(" ");
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: `T:${scopes}`, expires_in: 300 }));
      return;
    }
    seen.authHeaders.push(req.headers.authorization ?? "");
    const repo = "kiln/x";
    const push = req.method !== "GET" && req.method !== "HEAD";
    const need = `repository:${repo}:${push ? "pull,push" : "pull"}`;
    const token = (req.headers.authorization ?? "").replace(/^Bearer T:/, "");
    if (
      !req.headers.authorization?.startsWith("Bearer ") ||
      !token
        .split(" ")
        .some((s) => s === need || (s.startsWith(`repository:${repo}:`) && s.endsWith("pull,push")))
    ) {
      res.writeHead(401, {
        "www-authenticate": `Bearer realm="http://${host}/token",service="kiln-test",scope="${need}"`,
        "content-type": "application/json",
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    if (url.pathname === `/v2/${repo}/manifests/t` && req.method === "GET") {
      res.writeHead(200, {
        "content-type": "application/vnd.oci.image.manifest.v1+json",
        "docker-content-digest": MDIGEST,
      });
      res.end(MANIFEST);
      return;
    }
    const blob = /^\/v2\/kiln\/x\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && req.method === "HEAD") {
      res.writeHead(blobs.has(blob[1]!) ? 200 : 404).end();
      return;
    }
    if (url.pathname === `/v2/${repo}/blobs/uploads/` && req.method === "POST") {
      res.writeHead(202, { location: `/v2/${repo}/blobs/uploads/u1?_state=abc` }).end();
      return;
    }
    if (url.pathname === `/v2/${repo}/blobs/uploads/u1` && req.method === "PUT") {
      const d = url.searchParams.get("digest") ?? "";
      assert.equal(url.searchParams.get("_state"), "abc");
      blobs.set(d, body);
      res.writeHead(201, { "docker-content-digest": d }).end();
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}');
  };
}

test("bearer: a 401 challenge is answered with a token fetched with the Docker config's credentials", async () => {
  seen.tokenQueries.length = 0;
  seen.authHeaders.length = 0;
  const blobs = new Map<string, Buffer>();
  handler = bearerRegistry(blobs);
  const c = new RegistryClient(host, { env: dockerEnv("alice", "pw") });
  const m = await c.getManifest("kiln/x", "t");
  assert.equal(m.digest, MDIGEST);
  assert.equal(seen.tokenQueries.length, 1);
  assert.equal(seen.tokenQueries[0]!.get("service"), "kiln-test");
  assert.deepEqual(seen.tokenQueries[0]!.getAll("scope"), ["repository:kiln/x:pull"]);
  assert.deepEqual(seen.authHeaders, ["", "Bearer T:repository:kiln/x:pull"]);
  // The token is reused for the same scope: no second token request.
  await c.getManifest("kiln/x", "t");
  assert.equal(seen.tokenQueries.length, 1);

  const data = Buffer.from("blob bytes");
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
  assert.deepEqual(await c.pushBlob("kiln/x", { digest, size: data.length, data }), { uploaded: true });
  assert.deepEqual(blobs.get(digest), data);
  // Pushing asks for pull,push at once (plus what the challenge named), so one token serves HEAD, POST and PUT.
  assert.equal(seen.tokenQueries.length, 2);
  assert.equal(seen.tokenQueries[1]!.getAll("scope")[0], "repository:kiln/x:pull,push");
  // Already there: HEAD says so and nothing is uploaded again.
  assert.deepEqual(await c.pushBlob("kiln/x", { digest, size: data.length, data }), { uploaded: false });
});

test("bearer: wrong credentials are KILN_EREGISTRY_AUTH naming the user", async () => {
  handler = bearerRegistry(new Map());
  const c = new RegistryClient(host, { env: dockerEnv("alice", "wrong") });
  await assert.rejects(
    c.getManifest("kiln/x", "t"),
    (e) => isKilnError(e) && e.code === "KILN_EREGISTRY_AUTH" && e.message.includes('"alice"'),
  );
});

test("basic: a Basic challenge is answered with the configured user, and no credentials means a login hint", async () => {
  const headers: string[] = [];
  handler = (req, res) => {
    headers.push(req.headers.authorization ?? "");
    if (req.headers.authorization !== `Basic ${Buffer.from("bob:pw2").toString("base64")}`) {
      res.writeHead(401, {
        "www-authenticate": 'Basic realm="Registry Realm"',
        "content-type": "application/json",
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(MANIFEST);
  };
  const ok = await new RegistryClient(host, { env: dockerEnv("bob", "pw2") }).getManifest("a", "t");
  assert.equal(ok.digest, MDIGEST);
  assert.equal(headers.length, 2);
  await assert.rejects(
    new RegistryClient(host, { env: { DOCKER_CONFIG: "/nonexistent-kiln" } }).getManifest("a", "t"),
    (e) =>
      isKilnError(e) &&
      e.code === "KILN_EREGISTRY_AUTH" &&
      e.message.includes(`"${host}/a:t"`) &&
      e.message.includes("UNAUTHORIZED: authentication required") &&
      e.hint.includes("docker login"),
  );
});

test("registry errors carry the status, the registry's JSON message and the reference", async () => {
  handler = (_req, res) => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}');
  };
  const c = new RegistryClient(host, { credentials: null });
  await assert.rejects(
    c.getManifest("kiln/x", "nope"),
    (e) =>
      isKilnError(e) &&
      e.code === "KILN_EREGISTRY_NOT_FOUND" &&
      e.message.includes(`"${host}/kiln/x:nope"`) &&
      e.message.includes("MANIFEST_UNKNOWN: manifest unknown") &&
      (e.details as { status: number }).status === 404,
  );
  handler = (_req, res) => {
    res.writeHead(503, { "content-type": "text/plain" }).end("upstream down\n");
  };
  await assert.rejects(
    c.getManifest("kiln/x", "t"),
    (e) => isKilnError(e) && e.code === "KILN_EREGISTRY_SERVER" && e.message.includes("503: upstream down"),
  );
});

test("a manifest whose bytes do not match the digest asked for or announced is KILN_EDIGEST", async () => {
  const other = `sha256:${"0".repeat(64)}`;
  handler = (_req, res) => {
    res.writeHead(200, {
      "content-type": "application/vnd.oci.image.manifest.v1+json",
      "docker-content-digest": other,
    });
    res.end(MANIFEST);
  };
  const c = new RegistryClient(host, { credentials: null });
  await assert.rejects(c.getManifest("kiln/x", "t"), (e) => isKilnError(e) && e.code === "KILN_EDIGEST");
  await assert.rejects(c.getManifest("kiln/x", other), (e) => isKilnError(e) && e.code === "KILN_EDIGEST");
});
