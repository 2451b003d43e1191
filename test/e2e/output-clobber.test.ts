// Every verb that writes an output refuses to replace what kiln did not write there (KILN_EOUT_EXISTS),
// replaces its own earlier output, and with --force replaces anything of the same kind, whole or not at all.
// One test per kind of output: directories (bake OUT, licenses --texts, pull DIR) and files (image -o,
// sbom -o, toolchain --deb -o, pull --archive).
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type RunResult, runKiln, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";
import { helloImage } from "./imageFixture.js";
import { startRegistry } from "./ociFixture.js";

const tmp = tmpDir("kiln-output-");
let image = "";
before(async () => {
  image = await helloImage();
});
after(() => tmp.cleanup());

function refused(r: RunResult, path: string, hint = /--force/): void {
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const e = JSON.parse(r.stdout).error;
  assert.equal(e.code, "KILN_EOUT_EXISTS", r.stdout);
  assert.ok(e.message.includes(JSON.stringify(path)), e.message);
  assert.match(e.hint, hint);
}

/** A directory of the user's own: a file at the top and one below, as a project or a home would have. */
function userDir(path: string): void {
  mkdirSync(join(path, "LICENSES"), { recursive: true });
  writeFileSync(join(path, "notes.txt"), "mine");
  writeFileSync(join(path, "LICENSES", "MY-OWN.txt"), "my licence");
}

function assertUserDir(path: string): void {
  assert.equal(readFileSync(join(path, "notes.txt"), "utf8"), "mine");
  assert.equal(readFileSync(join(path, "LICENSES", "MY-OWN.txt"), "utf8"), "my licence");
}

test("directory outputs (licenses --texts, bake OUT): a user's file or directory is kept, kiln's own is replaced, --force replaces", async () => {
  // licenses --texts over a file: it was replaced with a directory.
  const file = join(tmp.path, "texts-file");
  writeFileSync(file, "my file");
  refused(await runKiln(["licenses", image, "--texts", file, "--json"]), file, /another path/);
  // Not even with --force: a file where a directory goes is a wrong path, not something to replace.
  refused(await runKiln(["licenses", image, "--texts", file, "--force", "--json"]), file, /another path/);
  assert.equal(readFileSync(file, "utf8"), "my file");
  // ... and over a directory of the user's files: it was emptied.
  const dir = join(tmp.path, "texts-dir");
  userDir(dir);
  refused(await runKiln(["licenses", image, "--texts", dir, "--json"]), dir);
  assertUserDir(dir);
  // A new place, then the same place again: kiln's own output is replaced without --force.
  const fresh = join(tmp.path, "texts-new");
  for (let i = 0; i < 2; i++) {
    const r = await runKiln(["licenses", image, "--texts", fresh, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(fresh, "LICENSES", "GPL-2.0-only.txt")), readdirSync(fresh).join(","));
  }
  // Once the user puts a file of their own in it, it is theirs again.
  writeFileSync(join(fresh, "added-by-me.txt"), "mine");
  refused(await runKiln(["licenses", image, "--texts", fresh, "--json"]), fresh);
  assert.ok(existsSync(join(fresh, "added-by-me.txt")));
  // --force replaces it with the texts alone.
  const forced = await runKiln(["licenses", image, "--texts", dir, "--force", "--json"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.ok(!existsSync(join(dir, "notes.txt")));
  assert.ok(existsSync(join(dir, "LICENSES", "GPL-2.0-only.txt")));

  // bake OUT: a directory holding a manifest.json and the user's files was replaced whole.
  const hello = await helloProgram();
  const project = join(tmp.path, "webapp");
  userDir(project);
  writeFileSync(join(project, "manifest.json"), '{"name":"my web app"}');
  refused(await runKiln(["bake", "qemu", project, hello, "--json"]), project);
  assertUserDir(project);
  assert.equal(readFileSync(join(project, "manifest.json"), "utf8"), '{"name":"my web app"}');
  // A symlink at OUT is not followed (nor replaced) without --force; with it, the link itself is replaced.
  const target = join(tmp.path, "link-target");
  userDir(target);
  const link = join(tmp.path, "link");
  symlinkSync(target, link);
  refused(await runKiln(["bake", "qemu", link, hello, "--json"]), link);
  const viaLink = await runKiln(["bake", "qemu", link, hello, "--force", "--quiet"]);
  assert.equal(viaLink.code, 0, viaLink.stderr);
  assert.ok(lstatSync(link).isDirectory(), "the link was replaced by the image");
  assertUserDir(target);
});

test("file outputs (image -o, sbom -o, toolchain --deb -o): a user's file is kept; --force replaces it atomically", async () => {
  const disk = join(tmp.path, "disk.img");
  writeFileSync(disk, "my disk");
  refused(await runKiln(["image", "raw-bios", image, "-o", disk, "--json"]), disk);
  assert.equal(readFileSync(disk, "utf8"), "my disk");
  // --force, but the format fails part-way (no syslinux): the old content survives, nothing is left beside it.
  const failed = await runKiln(["image", "raw-bios", image, "-o", disk, "--force", "--json"], {
    env: { KILN_SYSLINUX_DIR: "/nowhere" },
  });
  assert.equal(JSON.parse(failed.stdout).error.code, "KILN_EFIRMWARE_MISSING");
  assert.equal(readFileSync(disk, "utf8"), "my disk");
  assert.deepEqual(
    readdirSync(tmp.path).filter((n) => n.startsWith(".disk.img")),
    [],
  );
  const forced = await runKiln(["image", "raw-bios", image, "-o", disk, "--force", "--json"]);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(disk).subarray(510, 512).toString("hex"), "55aa", "a boot sector now");
  // kiln's own output is replaced again without --force.
  const again = await runKiln(["image", "raw-bios", image, "-o", disk, "--json"]);
  assert.equal(again.code, 0, again.stderr);

  const sbom = join(tmp.path, "hello.spdx.json");
  writeFileSync(sbom, "my notes");
  refused(await runKiln(["sbom", image, "-o", sbom, "--json"]), sbom);
  assert.equal(readFileSync(sbom, "utf8"), "my notes");
  assert.equal((await runKiln(["sbom", image, "-o", sbom, "--force", "--json"])).code, 0);
  assert.equal(JSON.parse(readFileSync(sbom, "utf8")).spdxVersion, "SPDX-2.3");
  assert.equal((await runKiln(["sbom", image, "-o", sbom, "--json"])).code, 0, "its own output again");

  // A symlink to a file of the user's: never written through.
  const mine = join(tmp.path, "precious.deb");
  writeFileSync(mine, "precious");
  const deb = join(tmp.path, "toolchain.deb");
  symlinkSync(mine, deb);
  refused(await runKiln(["toolchain", "--deb", "-o", deb, "--json"]), deb);
  assert.equal(readlinkSync(deb), mine);
  assert.equal(readFileSync(mine, "utf8"), "precious");
});

test("pull DIR and pull --archive FILE keep what the user had there", async () => {
  const reg = await startRegistry(join(tmp.path, "registry"));
  try {
    const ref = `${reg.host}/clobber/hello:1`;
    const pushed = await runKiln(["push", image, ref, "--json"]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const dir = join(tmp.path, "pulled");
    userDir(dir);
    writeFileSync(join(dir, "manifest.json"), "{}");
    refused(await runKiln(["pull", ref, dir, "--json"]), dir);
    assertUserDir(dir);
    const archive = join(tmp.path, "hello.tar");
    writeFileSync(archive, "my tar");
    refused(await runKiln(["pull", "--archive", ref, archive, "--json"]), archive);
    assert.equal(readFileSync(archive, "utf8"), "my tar");
    const forced = await runKiln(["pull", ref, dir, "--force", "--json"]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ["initrd", "kernel", "manifest.json"]);
  } finally {
    await reg.stop();
  }
});
