// Provenance: bake the image again from what it records and compare (src/bake/verifyImage.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { writeCpio } from "../../src/bake/cpio.js";
import { verifyImage } from "../../src/bake/verifyImage.js";
import { readCpio } from "../../src/core/cpioRead.js";
import { runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";

const tmp = tmpDir("kiln-verify-test-");
const env = { ...process.env, KILN_HOME: sharedHome() };
let image: string;

before(async () => {
  const conf = join(tmp.path, "hello.conf");
  writeFileSync(conf, "greeting = hello\n");
  image = join(tmp.path, "image");
  const r = await runKiln([
    "bake",
    "qemu",
    image,
    await helloProgram(),
    "--add",
    `${conf}:/etc/hello.conf`,
    "--cmdline",
    "loglevel=3",
    "--kernel",
    "stock",
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.cleanup());

test("a baked image rebakes to the same bytes from what it records (programs, added files, config, cmdline)", async () => {
  const r = await verifyImage(image, { env });
  assert.deepEqual(r.differences, []);
  assert.ok(r.same);
  assert.equal(r.rebuilt.initrd, r.recorded.initrd);
});

test("a file changed after baking is found and named", async () => {
  const copy = join(tmp.path, "changed");
  await runKiln(["bake", "qemu", copy, await helloProgram(), "--kernel", "stock", "--quiet"]);
  // Change /kiln/image.json inside the initrd and fix the manifest's digest, as a careless edit would.
  const initrdPath = join(copy, "initrd");
  const entries = readCpio(readFileSync(initrdPath)).filter((e) => e.type === "file");
  const changed = writeCpio(
    entries.map((e) => ({
      path: e.path,
      mode: e.perm,
      data: e.path === "/kiln/image.json" ? Buffer.from('{"v":1,"hostname":"edited"}\n') : e.data,
    })),
  );
  writeFileSync(initrdPath, changed);
  const m = JSON.parse(readFileSync(join(copy, "manifest.json"), "utf8"));
  m.initrd.sha256 = createHash("sha256").update(changed).digest("hex");
  m.initrd.size = changed.length;
  writeFileSync(join(copy, "manifest.json"), `${JSON.stringify(m, null, 2)}\n`);
  const r = await verifyImage(copy, { env });
  assert.equal(r.same, false);
  const what = r.differences.map((d) => d.what);
  assert.ok(what.includes("initrd"));
  assert.ok(what.includes("/kiln/image.json"), what.join(", "));
  assert.ok(!what.includes("/bin/hello") && !what.includes("/init"), what.join(", "));
});
