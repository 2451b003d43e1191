// Compliance of a Debian-sourced image: `kiln bake qemu OUT deb:redis-server` brings Redis with its
// shared-library closure; every file of the initrd must be in the SBOM, with the Debian package it came from.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readCpio } from "../../src/core/cpioRead.js";
import { runKiln, tmpDir } from "../helpers.js";
import { checkSboms } from "./complianceSchemas.js";

const tmp = tmpDir("kiln-compliance-deb-");
const image = join(tmp.path, "redis");
let files: string[];

before(async () => {
  const r = await runKiln(["bake", "qemu", image, "deb:redis-server", "--kernel", "stock", "--quiet"], {
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  files = readCpio(readFileSync(join(image, "initrd")))
    .filter((e) => e.type !== "dir")
    .map((e) => e.path);
});
after(() => tmp.cleanup());

test("the SBOMs of a deb:redis-server image validate and account for every file, libraries by package", async () => {
  const { cdx } = await checkSboms(image, files);
  assert.ok(
    files.some((f) => /libc\.so\.6$/.test(f)),
    "the closure brings glibc",
  );
  const purls: string[] = ((cdx.components ?? []) as { purl?: string }[]).map((c) => c.purl ?? "");
  assert.ok(
    purls.some((p) => p.startsWith("pkg:deb/debian/redis-server@")),
    purls.join("\n"),
  );
  assert.ok(
    purls.some((p) => p.startsWith("pkg:deb/debian/libc6@")),
    purls.join("\n"),
  );

  const lic = await runKiln(["licenses", image, "--json"]);
  assert.equal(lic.code, 0, lic.stderr);
  assert.match(lic.stdout, /BSD-3-Clause/, "Redis's own licence, read from its DEP-5 copyright file");
});
