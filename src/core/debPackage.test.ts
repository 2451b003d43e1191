import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseParagraphs, readDebControl, unpackDeb } from "./debPackage.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-deb-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const pkg = join(dir, "pkg");
mkdirSync(join(pkg, "DEBIAN"), { recursive: true });
mkdirSync(join(pkg, "usr/bin"), { recursive: true });
mkdirSync(join(pkg, "usr/share/doc/kiln-deb-test"), { recursive: true });
writeFileSync(
  join(pkg, "DEBIAN/control"),
  [
    "Package: kiln-deb-test",
    "Source: kiln-deb-src (2.0)",
    "Version: 1:2.0-3",
    "Architecture: amd64",
    "Maintainer: kiln <kiln@example.org>",
    "Description: a package for kiln's tests",
    " with a continuation line",
    "",
  ].join("\n"),
);
writeFileSync(join(pkg, "usr/bin/tool"), "#!/bin/sh\necho tool\n");
chmodSync(join(pkg, "usr/bin/tool"), 0o755);
writeFileSync(join(pkg, "usr/share/doc/kiln-deb-test/big"), Buffer.alloc(300_000, 5));

function build(compression: string): string {
  const out = join(dir, `t-${compression}.deb`);
  execFileSync("dpkg-deb", ["--root-owner-group", `-Z${compression}`, "--build", pkg, out], {
    stdio: "ignore",
  });
  return out;
}

// zstd payloads are unpacked with the zstd tool (Debian package zstd), which not every host has.
const hasZstd = (() => {
  try {
    execFileSync("zstd", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

for (const z of ["xz", "gzip", "zstd", "none"]) {
  const skip = z === "zstd" && !hasZstd ? "the zstd tool is not installed" : false;
  test(`reads control fields and unpacks data.tar (dpkg-deb -Z${z}) as dpkg-deb -x does`, {
    skip,
  }, async () => {
    const deb = build(z);
    const c = await readDebControl(deb);
    assert.equal(c.package, "kiln-deb-test");
    assert.equal(c.version, "1:2.0-3");
    assert.equal(c.architecture, "amd64");
    assert.equal(c.source, "kiln-deb-src (2.0)");
    assert.equal(c.fields.Description, "a package for kiln's tests\nwith a continuation line");
    const out = join(dir, `out-${z}`);
    const files = await unpackDeb(deb, out);
    const ref = join(dir, `ref-${z}`);
    execFileSync("dpkg-deb", ["-x", deb, ref]);
    assert.deepEqual(files.map((f) => f.path).sort(), ["usr/bin/tool", "usr/share/doc/kiln-deb-test/big"]);
    for (const f of files)
      assert.ok(readFileSync(join(out, f.path)).equals(readFileSync(join(ref, f.path))), f.path);
    assert.equal(statSync(join(out, "usr/bin/tool")).mode & 0o777, 0o755);
  });
}

test("a truncated .deb is refused and leaves nothing behind", async () => {
  const deb = build("xz");
  const size = statSync(deb).size;
  truncateSync(deb, size - 2000);
  const out = join(dir, "out-truncated");
  await assert.rejects(unpackDeb(deb, out), (e: Error & { code?: string }) => {
    assert.equal(e.code, "KILN_EARCHIVE_INVALID");
    assert.match(e.message, /t-xz\.deb/);
    return true;
  });
  assert.equal(existsSync(out), false);
});

test("a corrupt data.tar.xz (same size) is refused by xz and leaves nothing behind", async () => {
  const deb = build("xz");
  const bytes = readFileSync(deb);
  // Flip bytes in the middle of the last member (data.tar.xz): xz's integrity check catches it.
  for (let i = bytes.length - 400; i < bytes.length - 380; i++) bytes[i] = bytes[i]! ^ 0xff;
  const bad = join(dir, "bad.deb");
  writeFileSync(bad, bytes);
  const out = join(dir, "out-bad");
  await assert.rejects(unpackDeb(bad, out), { code: "KILN_EARCHIVE_INVALID" });
  assert.equal(existsSync(out), false);
});

test("parseParagraphs reads apt-cache show output with several records", () => {
  const recs = parseParagraphs(
    "Package: a\nVersion: 1\nSHA256: ab\n\nPackage: a\nVersion: 2\nDescription: x\n more\n",
  );
  assert.deepEqual(recs, [
    { Package: "a", Version: "1", SHA256: "ab" },
    { Package: "a", Version: "2", Description: "x\nmore" },
  ]);
});
