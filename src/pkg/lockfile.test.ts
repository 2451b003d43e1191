import assert from "node:assert/strict";
import { test } from "node:test";
import { type Lockfile, lockChanges, parseLock, renderLock, requiresDigest } from "./lockfile.js";

const A = "a".repeat(64);
const B = "b".repeat(64);
const lock: Lockfile = {
  requires: requiresDigest({ kzcat: "^1" }),
  packages: [
    {
      name: "kzcat",
      version: "1.0.0",
      repository: "packages",
      recipe: A,
      dependencies: ["kz 1.0.0"],
      sources: [{ url: "https://x/kzcat.tar", sha256: B }],
      artifact: B,
    },
    {
      name: "kz",
      version: "1.0.0",
      repository: "packages",
      recipe: B,
      dependencies: [],
      sources: [{ path: "src", sha256: A }],
    },
  ],
};

test("render is deterministic (sorted by name) and parses back to the same lock", async () => {
  const text = renderLock(lock);
  assert.equal(renderLock({ ...lock, packages: [...lock.packages].reverse() }), text);
  assert.ok(text.indexOf('name = "kz"') < text.indexOf('name = "kzcat"'));
  const back = await parseLock(text, "kiln.lock");
  assert.equal(renderLock(back), text);
  assert.equal(back.packages.find((p) => p.name === "kz")!.artifact, undefined);
});

test("requiresDigest ignores order and tells run from build ranges", () => {
  assert.equal(requiresDigest({ a: "^1", b: "^2" }), requiresDigest({ b: "^2", a: "^1" }));
  assert.notEqual(requiresDigest({ a: "^1" }), requiresDigest({}, { a: "^1" }));
  assert.notEqual(requiresDigest({ a: "^1" }), requiresDigest({ a: "^1.1" }));
});

test("lockChanges says what moved", () => {
  const next: Lockfile = {
    requires: lock.requires,
    packages: [
      { ...lock.packages[0]!, version: "1.1.0" },
      { ...lock.packages[1]!, artifact: A },
      { name: "new", version: "0.1.0", repository: "r", recipe: A, dependencies: [], sources: [] },
    ],
  };
  assert.deepEqual(lockChanges(lock, next), [
    "~ kzcat 1.0.0 -> 1.1.0",
    "~ kz 1.0.0: artifact",
    "+ new 0.1.0",
  ]);
  assert.deepEqual(lockChanges(next, { requires: lock.requires, packages: [] }), [
    "- kzcat 1.1.0",
    "- kz 1.0.0",
    "- new 0.1.0",
  ]);
});

test("a damaged lock is a clear error", async () => {
  await assert.rejects(parseLock("version = 2\n", "/p/kiln.lock"), (e: Error & { code?: string }) => {
    assert.equal(e.code, "KILN_ELOCK_INVALID");
    assert.match(e.message, /"\/p\/kiln\.lock": key "version"/);
    return true;
  });
  await assert.rejects(parseLock("version = = 1\n", "/p/kiln.lock"), /line 1/);
});
