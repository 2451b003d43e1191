import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runKiln, tmpDir } from "../helpers.js";
import { type FixtureImage, helloImage } from "./complianceFixture.js";

let img: FixtureImage;
const tmp = tmpDir("kiln-audit-");
const home = join(tmp.path, "home");
let kernelVersion: string;
let muslVersion: string;

const entry = (id: string, pkg: string, ecosystem: string, events: Record<string, string>[], extra = {}) => ({
  schema_version: "1.6.0",
  id,
  modified: "2025-01-01T00:00:00Z",
  aliases: [id.replace(/^DEBIAN-/, "")],
  summary: `test advisory ${id}`,
  affected: [{ package: { ecosystem, name: pkg }, ranges: [{ type: "ECOSYSTEM", events }] }],
  ...extra,
});

before(async () => {
  img = await helloImage();
  kernelVersion = img.manifest.kernel.version!;
  muslVersion = img.inputs.debian!.packages["musl-dev"]!.version;
  const osv = join(tmp.path, "osv");
  mkdirSync(osv);
  const put = (name: string, value: unknown) => writeFileSync(join(osv, name), JSON.stringify(value));
  // Fixed in a later version than the kernel in use: the image is affected.
  put(
    "DEBIAN-CVE-2099-0001.json",
    entry(
      "DEBIAN-CVE-2099-0001",
      "linux",
      "Debian:12",
      [{ introduced: "0" }, { fixed: `${kernelVersion}+fix1` }],
      {
        severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
      },
    ),
  );
  // Fixed in exactly the version in use: not affected.
  put(
    "DEBIAN-CVE-2099-0002.json",
    entry("DEBIAN-CVE-2099-0002", "linux", "Debian:12", [{ introduced: "0" }, { fixed: kernelVersion }]),
  );
  // Would match, but withdrawn.
  put(
    "DEBIAN-CVE-2099-0003.json",
    entry("DEBIAN-CVE-2099-0003", "linux", "Debian:12", [{ introduced: "0" }], {
      withdrawn: "2025-02-01T00:00:00Z",
    }),
  );
  // Another Debian release: not this image's.
  put(
    "DEBIAN-CVE-2099-0004.json",
    entry("DEBIAN-CVE-2099-0004", "linux", "Debian:11", [{ introduced: "0" }]),
  );
  // musl, statically linked into the program and kiln-init, by its explicit versions list, no severity.
  put("DEBIAN-CVE-2099-0005.json", {
    ...entry("DEBIAN-CVE-2099-0005", "musl", "Debian", [
      { introduced: "0" },
      { fixed: `${muslVersion}+fix` },
    ]),
    affected: [{ package: { ecosystem: "Debian", name: "musl" }, versions: [muslVersion] }],
  });
  // Names the binary package, not the source: Debian's data never does, and it must not match.
  put(
    "DEBIAN-CVE-2099-0006.json",
    entry("DEBIAN-CVE-2099-0006", img.manifest.kernel.package!, "Debian:12", [{ introduced: "0" }]),
  );
  writeFileSync(join(osv, "malformed.json"), "{ not json");
  const r = await runKiln(["advisories", "import", osv, "--name", "test"], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /skipped 1 file\(s\):\n {2}malformed\.json: not JSON/);
  assert.match(r.stdout, /imported 6 advisories \(1 withdrawn\)/);
});
after(() => {
  img.cleanup();
  tmp.cleanup();
});

test("kiln audit finds the advisory for the exact Debian kernel version in use, and musl's, and nothing else", async () => {
  const r = await runKiln(["audit", img.dir, "--json"], { home });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const found = report.findings.map((f: { id: string; target: { ref: string } }) => [f.id, f.target.ref]);
  assert.deepEqual(found, [
    ["DEBIAN-CVE-2099-0001", "kernel"],
    ["DEBIAN-CVE-2099-0005", "libc:musl@" + muslVersion],
  ]);
  const kernel = report.findings[0];
  assert.equal(kernel.severity.level, "critical");
  assert.equal(kernel.severity.score, 9.8);
  assert.equal(kernel.fixed, `${kernelVersion}+fix1`);
  assert.deepEqual(kernel.aliases, ["CVE-2099-0001"]);
  assert.equal(kernel.target.name, "linux");
  assert.equal(kernel.target.version, kernelVersion);
  assert.deepEqual(report.counts, { unknown: 1, low: 0, medium: 0, high: 0, critical: 1 });
  // The program has no package identity: reported as not audited, not silently passed.
  assert.ok(report.notAudited.some((n: { ref: string }) => n.ref === "program:/bin/hello"));
});

test("--fail-on sets the exit status; human output names advisory, part and fix", async () => {
  const high = await runKiln(["audit", img.dir, "--fail-on", "high"], { home });
  assert.equal(high.code, 1);
  assert.match(high.stdout, /DEBIAN-CVE-2099-0001\s+critical 9\.8\s+linux-image.*\s+\S+\+fix1/);
  const unknown = await runKiln(["audit", img.dir, "--fail-on", "unknown", "--quiet"], { home });
  assert.equal(unknown.code, 1);
  const bad = await runKiln(["audit", img.dir, "--fail-on", "severe"], { home });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /KILN_EAUDIT_LEVEL.*"severe"/);
});

test("kiln audit --deb matches a Debian package set, binary names mapped to their source", async () => {
  const r = await runKiln(
    [
      "audit",
      "--deb",
      `linux=${kernelVersion}`,
      "--deb",
      `musl-dev=${muslVersion}`,
      "--debian-release",
      "12",
      "--json",
    ],
    { home },
  );
  assert.equal(r.code, 0, r.stderr);
  const findings = JSON.parse(r.stdout).findings;
  assert.deepEqual(
    findings.map((f: { id: string; target: { name: string } }) => [f.id, f.target.name]),
    [
      ["DEBIAN-CVE-2099-0001", "linux"],
      ["DEBIAN-CVE-2099-0005", "musl"],
    ],
  );
  const fixedNow = await runKiln(
    ["audit", "--deb", `linux=${kernelVersion}+fix1`, "--debian-release", "12", "--json"],
    { home },
  );
  assert.deepEqual(JSON.parse(fixedNow.stdout).findings, []);
  const bad = await runKiln(["audit", "--deb", "linux"], { home });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /KILN_EAUDIT_DEB/);
});

test("without advisories the audit says how to get them; --db reads a zip directly", async () => {
  const empty = await runKiln(["audit", img.dir], { home: join(tmp.path, "empty-home") });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /KILN_EADVISORIES_NONE/);
  const zip = join(tmp.path, "osv.zip");
  execFileSync("zip", ["-q", "-r", zip, "."], { cwd: join(tmp.path, "osv") });
  const r = await runKiln(["audit", img.dir, "--db", zip, "--json"], { home: join(tmp.path, "empty-home") });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).findings.length, 2);
});
