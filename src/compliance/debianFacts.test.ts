import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cachedHostDebianFacts } from "./debianFacts.js";

// dpkg-query reads DPKG_ADMINDIR's status file, so a fake database stands in for the host's.
function status(version: string): string {
  return `Package: musl-dev\nStatus: install ok installed\nVersion: ${version}\nArchitecture: amd64\nSource: musl\nMaintainer: x <x@example.org>\nDescription: x\n\n`;
}

test("host facts come from dpkg once, then from the cache until dpkg's status file changes", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-facts-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const admin = join(dir, "dpkg");
  mkdirSync(join(admin, "info"), { recursive: true });
  mkdirSync(join(admin, "updates"), { recursive: true });
  writeFileSync(join(admin, "status"), status("1.2.3-1"));
  const env = { ...process.env, KILN_HOME: join(dir, "home"), DPKG_ADMINDIR: admin };

  const first = await cachedHostDebianFacts(["musl-dev"], env);
  assert.equal(first.packages["musl-dev"]?.version, "1.2.3-1");
  assert.equal(first.packages["musl-dev"]?.source, "musl");

  // No dpkg on PATH: only the cache can answer, and it must (dpkg's database is as it was).
  const noTools = { ...env, PATH: join(dir, "empty") };
  assert.deepEqual(await cachedHostDebianFacts(["musl-dev"], noTools), first);

  // An upgrade rewrites the status file (a new inode by rename, as dpkg does): asked again.
  writeFileSync(join(admin, "status.new"), status("1.2.4-1"));
  const { renameSync } = await import("node:fs");
  renameSync(join(admin, "status.new"), join(admin, "status"));
  const after = await cachedHostDebianFacts(["musl-dev"], env);
  assert.equal(after.packages["musl-dev"]?.version, "1.2.4-1");
  // Another package list is another question.
  const none = await cachedHostDebianFacts([], noTools);
  assert.deepEqual(none.packages, {});
});
