import assert from "node:assert/strict";
import { test } from "node:test";
import { isKilnError } from "../errors.js";
import {
  formatReference,
  parseReference,
  referenceTarget,
  registryEndpoint,
  registryScheme,
} from "./reference.js";

const D = `sha256:${"ab".repeat(32)}`;

test("references parse into registry, repository, tag and digest", () => {
  assert.deepEqual(parseReference("127.0.0.1:5000/kiln/hello:1.0"), {
    registry: "127.0.0.1:5000",
    repository: "kiln/hello",
    tag: "1.0",
  });
  assert.deepEqual(parseReference("localhost/hello"), {
    registry: "localhost",
    repository: "hello",
    tag: "latest",
  });
  assert.deepEqual(parseReference(`ghcr.io/a/b@${D}`), { registry: "ghcr.io", repository: "a/b", digest: D });
  assert.deepEqual(parseReference(`ghcr.io/a/b:v2@${D}`), {
    registry: "ghcr.io",
    repository: "a/b",
    tag: "v2",
    digest: D,
  });
  assert.deepEqual(parseReference("busybox"), {
    registry: "docker.io",
    repository: "library/busybox",
    tag: "latest",
  });
  assert.deepEqual(parseReference("user/app:x"), { registry: "docker.io", repository: "user/app", tag: "x" });
  assert.deepEqual(parseReference("[::1]:5000/x"), {
    registry: "[::1]:5000",
    repository: "x",
    tag: "latest",
  });
  assert.equal(referenceTarget(parseReference(`h.io/a:v@${D}`)), D);
  assert.equal(formatReference(parseReference("h.io:443/a/b")), "h.io:443/a/b:latest");
});

test("bad references are usage errors that quote the reference", () => {
  for (const bad of [
    "",
    "a b",
    "h.io/Upper",
    "h.io/a:bad tag",
    "h.io/a@sha256:xyz",
    "h.io/a@md5:00",
    "h.io/a//b",
    "h.io/:t",
  ]) {
    assert.throws(
      () => parseReference(bad),
      (e) =>
        isKilnError(e) &&
        e.code === "KILN_EREF_INVALID" &&
        e.exitCode === 2 &&
        e.message.includes(JSON.stringify(bad)),
      bad,
    );
  }
});

test("loopback registries speak http, others https, unless --insecure or KILN_INSECURE_REGISTRIES says so", () => {
  assert.equal(registryScheme("127.0.0.1:5000"), "http");
  assert.equal(registryScheme("localhost:5000"), "http");
  assert.equal(registryScheme("[::1]:5000"), "http");
  assert.equal(registryScheme("ghcr.io", { env: {} }), "https");
  assert.equal(
    registryScheme("reg.lan:5000", { env: { KILN_INSECURE_REGISTRIES: "a.lan, reg.lan:5000" } }),
    "http",
  );
  assert.equal(registryScheme("reg.lan:5000", { insecure: true, env: {} }), "http");
  assert.equal(registryEndpoint("docker.io"), "registry-1.docker.io");
});
