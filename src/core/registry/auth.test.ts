import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isKilnError } from "../errors.js";
import { dockerConfigPath, dockerCredentials, parseChallenges } from "./auth.js";

test("WWW-Authenticate challenges parse, quoted values and several schemes included", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
    [
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.example/token",
          service: "registry.example",
          scope: "repository:a/b:pull,push",
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="http://x/t" , service=svc'), [
    { scheme: "basic", params: { realm: "Registry Realm" } },
    { scheme: "bearer", params: { realm: "http://x/t", service: "svc" } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b"'), [{ scheme: "bearer", params: { realm: 'a"b' } }]);
  assert.deepEqual(parseChallenges(""), []);
});

function withConfig(
  content: unknown,
  fn: (env: NodeJS.ProcessEnv, dir: string) => Promise<void>,
): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-dockercfg-"));
    try {
      writeFileSync(
        join(dir, "config.json"),
        typeof content === "string" ? content : JSON.stringify(content),
      );
      await fn({ DOCKER_CONFIG: dir, PATH: `${dir}:${process.env.PATH}` }, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test("the Docker config is $DOCKER_CONFIG/config.json, else ~/.docker/config.json", () => {
  assert.equal(dockerConfigPath({ DOCKER_CONFIG: "/x" }), "/x/config.json");
  assert.equal(dockerConfigPath({ HOME: "/home/u" }), "/home/u/.docker/config.json");
});

test(
  "credentials come from auths[host].auth (base64 user:password), with or without a scheme in the key",
  withConfig(
    {
      auths: {
        "reg.example:5000": { auth: Buffer.from("alice:s3:cret").toString("base64") },
        "https://other.example": { auth: Buffer.from("bob:pw").toString("base64") },
        "https://index.docker.io/v1/": { auth: Buffer.from("hub:hubpw").toString("base64") },
      },
    },
    async (env) => {
      assert.deepEqual(await dockerCredentials("reg.example:5000", env), {
        username: "alice",
        password: "s3:cret",
      });
      assert.deepEqual(await dockerCredentials("other.example", env), { username: "bob", password: "pw" });
      assert.deepEqual(await dockerCredentials("docker.io", env), { username: "hub", password: "hubpw" });
      assert.equal(await dockerCredentials("nobody.example", env), undefined);
    },
  ),
);

test(
  "a credential helper named in credHelpers is asked with the host on stdin",
  withConfig({ credHelpers: { "helped.example": "kilntest" } }, async (env, dir) => {
    const helper = join(dir, "docker-credential-kilntest");
    writeFileSync(
      helper,
      '#!/bin/sh\n[ "$1" = get ] || exit 2\nread host\n[ "$host" = helped.example ] || { echo "credentials not found"; exit 1; }\necho \'{"ServerURL":"helped.example","Username":"carol","Secret":"tok"}\'\n',
    );
    chmodSync(helper, 0o755);
    assert.deepEqual(await dockerCredentials("helped.example", env), { username: "carol", password: "tok" });
  }),
);

test(
  "a config that is not JSON is a clear error, no config at all is anonymous",
  withConfig("{not json", async (env) => {
    await assert.rejects(
      dockerCredentials("x.example", env),
      (e) => isKilnError(e) && e.code === "KILN_EDOCKER_CONFIG",
    );
    assert.equal(await dockerCredentials("x.example", { DOCKER_CONFIG: "/nonexistent-kiln" }), undefined);
  }),
);
