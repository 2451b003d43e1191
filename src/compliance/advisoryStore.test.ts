import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  advisoriesDir,
  advisoryDbFromPath,
  defaultSourceName,
  importAdvisories,
  listAdvisorySources,
  openAdvisoryStore,
  removeAdvisorySource,
} from "./advisoryStore.js";

const root = mkdtempSync(join(tmpdir(), "kiln-advstore-"));
after(() => rmSync(root, { recursive: true, force: true }));
const env = { ...process.env, KILN_HOME: join(root, "home") };

const osv = (id: string, pkg: string, fixed: string, extra: Record<string, unknown> = {}) => ({
  schema_version: "1.6.0",
  id,
  modified: "2024-05-01T00:00:00Z",
  aliases: [`CVE-${id.replace(/\D/g, "")}`],
  affected: [
    {
      package: { ecosystem: "Debian:12", name: pkg },
      ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed }] }],
    },
  ],
  ...extra,
});

function sourceDir(): string {
  const d = join(root, "osv");
  mkdirSync(join(d, "sub"), { recursive: true });
  writeFileSync(
    join(d, "DEBIAN-CVE-2024-1.json"),
    JSON.stringify(osv("DEBIAN-CVE-2024-1", "linux", "6.1.200-1")),
  );
  writeFileSync(
    join(d, "sub", "DEBIAN-CVE-2024-2.json"),
    JSON.stringify(osv("DEBIAN-CVE-2024-2", "musl", "1.2.4-1")),
  );
  writeFileSync(join(d, "broken.json"), '{"id": "X", "modified": ');
  writeFileSync(join(d, "no-modified.json"), JSON.stringify({ id: "DEBIAN-CVE-2024-3", affected: [] }));
  const badEvent = osv("DEBIAN-CVE-2024-4", "linux", "1");
  badEvent.affected[0]!.ranges[0]!.events = [{ introduced: "0", fixed: "1" } as { introduced: string }];
  writeFileSync(join(d, "bad-event.json"), JSON.stringify(badEvent));
  writeFileSync(
    join(d, "list.json"),
    JSON.stringify([
      osv("DSA-5000-1", "linux", "6.1.100-1"),
      osv("DEBIAN-CVE-2024-5", "linux", "6.1.300-1", { withdrawn: "2024-06-01T00:00:00Z" }),
    ]),
  );
  writeFileSync(join(d, "README.txt"), "not an OSV file, not read");
  return d;
}

test("import: valid entries indexed by (ecosystem, package); malformed files skipped, each named", async () => {
  const dir = sourceDir();
  const r = await importAdvisories(dir, { env, name: "debian-test" });
  assert.equal(r.entries, 4);
  assert.equal(r.withdrawn, 1);
  assert.equal(r.packages, 2);
  assert.deepEqual(r.ecosystems, { "Debian:12": 4 });
  assert.deepEqual(r.skippedFiles.map((s) => s.file).sort(), [
    "bad-event.json",
    "broken.json",
    "no-modified.json",
  ]);
  assert.match(r.skippedFiles.find((s) => s.file === "broken.json")!.reason, /not JSON/);
  assert.match(r.skippedFiles.find((s) => s.file === "no-modified.json")!.reason, /modified/);
  assert.match(r.skippedFiles.find((s) => s.file === "bad-event.json")!.reason, /exactly one/);

  const db = await openAdvisoryStore(env);
  try {
    assert.deepEqual(
      (await db.lookup("Debian:12", "linux")).map((a) => a.id),
      ["DEBIAN-CVE-2024-1", "DEBIAN-CVE-2024-5", "DSA-5000-1"],
    );
    assert.deepEqual(
      (await db.lookup("Debian:12", "musl")).map((a) => a.id),
      ["DEBIAN-CVE-2024-2"],
    );
    assert.deepEqual(await db.lookup("Debian:11", "linux"), []);
    assert.deepEqual(await db.lookup("Debian:12", "constructor"), []);
    assert.deepEqual(await db.lookup("__proto__", "toString"), []);
    assert.deepEqual(db.describe(), { sources: ["debian-test"], entries: 4 });
  } finally {
    await db.close();
  }
});

test("a zip imports the same; re-import replaces the source; sources are listed and removed", async () => {
  const dir = sourceDir();
  const zip = join(root, "Debian", "all.zip");
  mkdirSync(join(root, "Debian"), { recursive: true });
  execFileSync("zip", ["-q", "-r", zip, "."], { cwd: dir });
  assert.equal(defaultSourceName(zip), "Debian");
  const r = await importAdvisories(zip, { env });
  assert.equal(r.name, "Debian");
  assert.equal(r.entries, 4);
  assert.equal(r.skipped, 3);
  // Re-import with fewer files: the source now holds only those (no leftovers from the first import).
  const small = join(root, "small");
  mkdirSync(small);
  writeFileSync(join(small, "one.json"), JSON.stringify(osv("DSA-1-1", "openssl", "3.0.0-1")));
  await importAdvisories(small, { env, name: "Debian" });
  const db = await openAdvisoryStore(env);
  try {
    assert.deepEqual(
      (await db.lookup("Debian:12", "openssl")).map((a) => a.id),
      ["DSA-1-1"],
    );
    // musl's advisory now comes only from the other source, not from leftovers of the first Debian import.
    assert.deepEqual(
      (await db.lookup("Debian:12", "musl")).map((a) => a.id),
      ["DEBIAN-CVE-2024-2"],
    );
    assert.deepEqual(db.describe().sources, ["Debian", "debian-test"]);
  } finally {
    await db.close();
  }
  assert.deepEqual(
    (await listAdvisorySources(env)).map((s) => [s.name, s.entries]),
    [
      ["Debian", 1],
      ["debian-test", 4],
    ],
  );
  await removeAdvisorySource("debian-test", env);
  assert.deepEqual(
    (await listAdvisorySources(env)).map((s) => s.name),
    ["Debian"],
  );
  await assert.rejects(removeAdvisorySource("debian-test", env), { code: "KILN_EADVISORIES_NOT_FOUND" });
  // No temporary directories are left behind.
  assert.deepEqual(readdirSync(advisoriesDir(env)), ["Debian"]);
});

test("nothing valid: the import fails and the store is left as it was; --db reads without importing", async () => {
  const bad = join(root, "bad");
  mkdirSync(bad);
  writeFileSync(join(bad, "x.json"), "[1, 2]");
  await assert.rejects(importAdvisories(bad, { env, name: "Debian" }), { code: "KILN_EADVISORIES_EMPTY" });
  assert.equal((await listAdvisorySources(env))[0]?.entries, 1);
  const { db, skipped } = await advisoryDbFromPath(sourceDir());
  assert.equal(skipped.length, 3);
  assert.equal((await db.lookup("Debian:12", "linux")).length, 3);
  await assert.rejects(importAdvisories(join(root, "nope"), { env }), { code: "KILN_EADVISORIES_NOT_FOUND" });
});
