import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KilnError } from "../core/errors.js";
import { loadRecipe, loadToml, parseToml } from "./loadRecipe.js";
import { locateKey } from "./tomlLocate.js";

const GOOD = `name = "kz"
version = "1.0.0"
license = "Zlib"
description = "a small compression library"

[[sources]]
url = "https://example.org/kz-1.0.0.tar"
sha256 = "${"a".repeat(64)}"

[build]
system = "make"

[dependencies]
other = "^2.1"

[provides]
libraries = ["lib/libkz.a"]
headers = ["include/kz.h"]
`;

async function fails(text: string): Promise<KilnError> {
  try {
    await parseToml(text, "/r/kiln.toml");
  } catch (e) {
    assert.ok(e instanceof KilnError, String(e));
    return e;
  }
  assert.fail("parsed");
}

test("a good recipe parses", async () => {
  const t = await parseToml(GOOD, "/r/kiln.toml");
  assert.equal(t.name, "kz");
  assert.equal(t.sources?.[0]?.sha256, "a".repeat(64));
  assert.deepEqual(t.dependencies, { other: "^2.1" });
});

test("unknown key: file, line and key named, known keys listed", async () => {
  const e = await fails(GOOD.replace('system = "make"', 'system = "make"\nsystm = "x"'));
  assert.equal(e.code, "KILN_ERECIPE_INVALID");
  assert.match(e.message, /"\/r\/kiln\.toml" line 12: key "build\.systm": unknown key/);
  assert.match(e.hint, /system/);
  const top = await fails(`frobnicate = 1\n${GOOD}`);
  assert.match(top.message, /line 1: key "frobnicate"/);
});

test("url source without sha256 is refused at its line", async () => {
  const e = await fails(GOOD.replace(/sha256 = "a+"\n/, ""));
  assert.match(e.message, /line 6: key "sources\.0\.sha256": is required for a url source/);
});

test("bad values are quoted: version, range, licence", async () => {
  const v = await fails(GOOD.replace('version = "1.0.0"', 'version = "1.0"'));
  assert.match(v.message, /line 2: key "version": "1\.0" must be a semver version/);
  const r = await fails(GOOD.replace('other = "^2.1"', 'other = "two"'));
  assert.match(r.message, /line 14: key "dependencies\.other": "two" must be a semver range/);
  const l = await fails(GOOD.replace('license = "Zlib"', 'license = "Zlib AND"'));
  assert.match(l.message, /line 3: key "license": "Zlib AND" must be an SPDX/);
});

test("syntax errors carry the line from smol-toml", async () => {
  const e = await fails('name = "kz"\nversion = \n');
  assert.match(e.message, /line 2, column/);
});

test("a project file with only [image] is a project, not an error; examples/ parse", async () => {
  for (const ex of ["examples/httpd", "examples/kv"]) {
    const t = await loadToml(ex);
    assert.equal(t.toml.name, undefined);
    assert.ok(t.toml.image?.args?.length);
  }
  const e = await fails('version = "1.0.0"\n[image]\nargs = []\n');
  assert.match(e.message, /key "version": belongs to a package recipe/);
});

test("loadRecipe refuses a project file and a missing file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-recipe-"));
  after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, "kiln.toml"), "[image]\nargs = []\n");
  await assert.rejects(loadRecipe(dir), /is a project file, not a package recipe/);
  await assert.rejects(loadRecipe(join(dir, "nope")), { code: "KILN_ERECIPE_NOT_FOUND" });
});

test("every catalogue recipe under packages/ is valid", async () => {
  const { readdir } = await import("node:fs/promises");
  const names = await readdir("packages").catch(() => []);
  for (const n of names) {
    if (n.endsWith(".md")) continue;
    const r = await loadRecipe(join("packages", n));
    assert.equal(r.toml.name, n, `packages/${n}/kiln.toml names itself ${r.toml.name}`);
  }
});

test("locateKey: tables, arrays of tables, dotted and quoted keys", () => {
  const text = `a = 1
[t]
b.c = 2
"q.k" = 3
[[arr]]
x = 1
[[arr]]
x = 2
[arr.sub]
y = 3
`;
  assert.equal(locateKey(text, ["a"]), 1);
  assert.equal(locateKey(text, ["t", "b", "c"]), 3);
  assert.equal(locateKey(text, ["t", "q.k"]), 4);
  assert.equal(locateKey(text, ["arr", 0, "x"]), 6);
  assert.equal(locateKey(text, ["arr", 1, "x"]), 8);
  assert.equal(locateKey(text, ["arr", 1, "sub", "y"]), 10);
  assert.equal(locateKey(text, ["t", "missing"]), 2);
  assert.equal(locateKey(text, ["nowhere"]), undefined);
  void readFile;
});
