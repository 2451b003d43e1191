import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Store } from "../core/store.js";
import { installArtifact, PLACEHOLDER, packArtifact } from "./artifact.js";

const dir = await mkdtemp(join(tmpdir(), "kiln-artifact-"));
after(() => rm(dir, { recursive: true, force: true }));
const store = new Store(join(dir, "store"));
const BUILT_FOR = "/home/builder/.local/share/kiln/prefix";

function stage(name: string): string {
  const s = join(dir, name);
  mkdirSync(join(s, "lib", "pkgconfig"), { recursive: true });
  mkdirSync(join(s, "bin"), { recursive: true });
  writeFileSync(join(s, "lib", "pkgconfig", "kz.pc"), `prefix=${BUILT_FOR}\nlibdir=\${prefix}/lib\n`);
  writeFileSync(
    join(s, "lib", "libkz.a"),
    Buffer.concat([Buffer.from("!<arch>\n\0"), Buffer.from(BUILT_FOR)]),
  );
  writeFileSync(join(s, "bin", "tool"), "#!/bin/sh\necho hi\n");
  chmodSync(join(s, "bin", "tool"), 0o755);
  symlinkSync(`${BUILT_FOR}/lib/libkz.a`, join(s, "lib", "libkz-1.a"));
  return s;
}

test("packed once, installed into another prefix: text files get that prefix, links stay inside", async () => {
  const a = await packArtifact(stage("s1"), BUILT_FOR, { name: "kz", version: "1.0.0" }, store);
  const b = await packArtifact(stage("s2"), BUILT_FOR, { name: "kz", version: "1.0.0" }, store);
  assert.equal(a.sha256, b.sha256, "same files, same artifact");
  assert.deepEqual(a.files, ["bin/tool", "lib/libkz-1.a", "lib/libkz.a", "lib/pkgconfig/kz.pc"]);
  const prefix = join(dir, "elsewhere", "prefix");
  const files = await installArtifact(a.path, a.sha256, prefix);
  assert.deepEqual(files, a.files);
  assert.equal(
    readFileSync(join(prefix, "lib", "pkgconfig", "kz.pc"), "utf8"),
    `prefix=${prefix}\nlibdir=\${prefix}/lib\n`,
  );
  assert.ok(!readFileSync(join(prefix, "lib", "pkgconfig", "kz.pc"), "utf8").includes(PLACEHOLDER));
  // Binary files (with NUL bytes) are carried as they are.
  assert.ok(readFileSync(join(prefix, "lib", "libkz.a")).includes(Buffer.from(BUILT_FOR)));
  assert.equal(readlinkSync(join(prefix, "lib", "libkz-1.a")), "libkz.a");
  assert.equal(readFileSync(join(prefix, "bin", "tool"), "utf8"), "#!/bin/sh\necho hi\n");
  assert.deepEqual((await readdir(join(dir, "elsewhere"))).sort(), ["prefix"], "no scratch directory left");
});

test("a blob changed in the store is refused while installing, and the prefix is untouched", async () => {
  const a = await packArtifact(stage("s3"), BUILT_FOR, { name: "kz", version: "1.0.0" }, store);
  const copy = join(dir, "tampered.tar");
  const bytes = readFileSync(a.path);
  bytes[600] = bytes[600]! ^ 1;
  writeFileSync(copy, bytes);
  const prefix = join(dir, "p2", "prefix");
  await assert.rejects(installArtifact(copy, a.sha256, prefix), { code: "KILN_ESTORE_CORRUPT" });
  assert.deepEqual(await readdir(prefix), []);
  assert.deepEqual(await readdir(join(dir, "p2")), ["prefix"]);
});

test("a symlink out of the prefix cannot be packed", async () => {
  const s = stage("s4");
  symlinkSync("/etc/passwd", join(s, "lib", "evil"));
  await assert.rejects(
    packArtifact(s, BUILT_FOR, { name: "kz", version: "1.0.0" }, store),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_EBUILD_OUTPUT");
      assert.match(e.message, /"lib\/evil" to "\/etc\/passwd", outside the prefix/);
      return true;
    },
  );
});
