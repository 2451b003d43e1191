import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { arMemberStream, readArMembers } from "./ar.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-ar-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A real .deb, made by dpkg-deb. */
function buildDeb(): string {
  const pkg = join(dir, "pkg");
  mkdirSync(join(pkg, "DEBIAN"), { recursive: true });
  mkdirSync(join(pkg, "usr/share/kiln-test"), { recursive: true });
  writeFileSync(
    join(pkg, "DEBIAN/control"),
    "Package: kiln-ar-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: kiln <kiln@example.org>\nDescription: test\n",
  );
  writeFileSync(join(pkg, "usr/share/kiln-test/data"), Buffer.alloc(5001, 3));
  const deb = join(dir, "t.deb");
  execFileSync("dpkg-deb", ["--root-owner-group", "--build", pkg, deb], { stdio: "ignore" });
  return deb;
}

async function bytesOf(s: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("lists a .deb's members as binutils' ar does, with their exact bytes", async () => {
  const deb = buildDeb();
  const members = await readArMembers(deb);
  const names = execFileSync("ar", ["t", deb]).toString().trim().split("\n");
  assert.deepEqual(
    members.map((m) => m.name),
    names,
  );
  assert.equal(names[0], "debian-binary");
  for (const m of members) {
    const want = execFileSync("ar", ["p", deb, m.name]);
    assert.equal(m.size, want.length, m.name);
    assert.ok((await bytesOf(arMemberStream(deb, m))).equals(want), m.name);
  }
});

test("reads archives made by binutils ar, odd sizes and long names included", async () => {
  const files = ["a", "odd", "a-rather-long-member-name.txt"];
  writeFileSync(join(dir, "a"), "x");
  writeFileSync(join(dir, "odd"), "abc");
  writeFileSync(join(dir, "a-rather-long-member-name.txt"), "long name body\n");
  const ar = join(dir, "t.a");
  execFileSync("ar", ["rc", ar, ...files], { cwd: dir });
  const members = await readArMembers(ar);
  assert.deepEqual(
    members.map((m) => m.name),
    files,
  );
  for (const m of members) {
    assert.equal((await bytesOf(arMemberStream(ar, m))).toString(), readFileSync(join(dir, m.name), "utf8"));
  }
});

test("a truncated archive or a file that is not one is KILN_EARCHIVE_INVALID", async () => {
  const deb = buildDeb();
  const cut = join(dir, "cut.deb");
  writeFileSync(cut, readFileSync(deb));
  truncateSync(cut, readFileSync(deb).length - 100);
  await assert.rejects(readArMembers(cut), (e: Error & { code?: string }) => {
    assert.equal(e.code, "KILN_EARCHIVE_INVALID");
    assert.match(e.message, /truncated/);
    assert.match(e.message, /cut\.deb/);
    return true;
  });
  const junk = join(dir, "junk.deb");
  writeFileSync(junk, "this is not an archive\n");
  await assert.rejects(readArMembers(junk), { code: "KILN_EARCHIVE_INVALID" });
});
