// Compliance of a Debian-sourced image: `kiln bake qemu OUT deb:redis-server` brings Redis with its
// shared-library closure; every file of the initrd must be in the SBOM, with the Debian package it came from.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
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

test("kiln verify rebakes a Debian-sourced image to the same bytes, and names a library changed inside it", async () => {
  const same = await runKiln(["verify", image, "--json"], { timeoutMs: 120_000 });
  assert.equal(same.code, 0, same.stdout + same.stderr);
  assert.equal(JSON.parse(same.stdout).same, true);

  // Change a byte of libc inside the initrd (and fix the initrd's digest, as a careless edit would).
  const copy = join(tmp.path, "changed");
  cpSync(image, copy, { recursive: true });
  const initrdPath = join(copy, "initrd");
  const changed = readFileSync(initrdPath);
  const libc = readCpio(changed).find((e) => e.path.endsWith("/libc.so.6") && e.type === "file")!;
  const at = changed.indexOf(libc.data) + Math.floor(libc.data.length / 2);
  changed[at] = changed[at]! ^ 0xff;
  writeFileSync(initrdPath, changed);
  const m = JSON.parse(readFileSync(join(copy, "manifest.json"), "utf8"));
  m.initrd.sha256 = createHash("sha256").update(changed).digest("hex");
  m.initrd.size = changed.length;
  writeFileSync(join(copy, "manifest.json"), `${JSON.stringify(m, null, 2)}\n`);
  const r = await runKiln(["verify", copy, "--json"], { timeoutMs: 120_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const out = JSON.parse(r.stdout) as { same: boolean; differences: { what: string }[] };
  assert.equal(out.same, false);
  assert.ok(
    out.differences.some((d) => d.what === "manifest.files"),
    JSON.stringify(out.differences),
  );
});
