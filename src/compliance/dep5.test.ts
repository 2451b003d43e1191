import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { debianPackageLicense, parseDeb822, parseDep5 } from "./dep5.js";
import { isLicenseExpression, licenseLeaves, parseLicenseExpression } from "./licenseExpression.js";

const doc = (pkg: string) => readFileSync(`/usr/share/doc/${pkg}/copyright`, "utf8");
const leaves = (e: string) => licenseLeaves(parseLicenseExpression(e).ast);

test("deb822: paragraphs, continuation lines, ' .' as an empty line, comments", () => {
  const paras = parseDeb822(
    "Format: x\n# a comment\nComment: first\n second\n .\n third\n\n\t\nFiles: *\nLicense: MIT\n",
  );
  assert.equal(paras.length, 2);
  assert.equal(paras[0]!.get("Comment"), "first\nsecond\n\nthird");
  assert.equal(paras[1]!.get("Files"), "*");
});

test("musl-dev (the libc in every image): MIT main licence, every Files paragraph's licence, texts kept", () => {
  const r = debianPackageLicense(doc("musl-dev"), "musl");
  assert.ok(r.machineReadable);
  assert.equal(r.main, "MIT");
  assert.ok(isLicenseExpression(r.expression));
  const all = leaves(r.expression);
  for (const id of ["MIT", "LicenseRef-public-domain", "BSD-2-Clause"])
    assert.ok(all.includes(id), `${id} in ${r.expression}`);
  const mit = r.licenses.find((l) => l.id === "MIT");
  assert.match(mit?.text ?? "", /Permission is hereby granted/);
  // musl's "permissive" is not a known licence: kept as a LicenseRef with its text.
  const permissive = r.licenses.find((l) => l.debianName === "permissive");
  if (permissive) {
    assert.equal(permissive.id, "LicenseRef-permissive");
    assert.equal(permissive.known, false);
    assert.ok(permissive.text && permissive.text.length > 20);
  }
});

test("zlib1g, libssl3, coreutils, libzstd1: real copyright files give the expected licences", () => {
  assert.equal(debianPackageLicense(doc("zlib1g"), "zlib1g").expression, "Zlib");
  const ssl = debianPackageLicense(doc("libssl3"), "libssl3");
  assert.equal(ssl.main, "Apache-2.0");
  const core = debianPackageLicense(doc("coreutils"), "coreutils");
  assert.equal(core.main, "GPL-3.0-or-later");
  assert.ok(leaves(core.expression).includes("GPL-3.0-or-later"));
  const zstd = debianPackageLicense(doc("libzstd1"), "libzstd1");
  assert.equal(zstd.main, "BSD-3-Clause OR GPL-2.0-only");
  // debian/* (packaging) paragraphs do not count for the binary's licence, Files: * does.
  const zlib = parseDep5(doc("zlib1g"));
  assert.ok(zlib.files.some((f) => f.files.includes("debian/*")));
  assert.match(zlib.licenses.get("Zlib") ?? "", /provided 'as-is'/);
});

test("the Debian kernel's copyright: GPL-2.0-only main, unknown names kept as LicenseRef with their text", () => {
  const text = readFileSync(
    new URL("../../test/fixtures/compliance/linux-image-6.1.0-56-cloud-amd64.copyright", import.meta.url),
    "utf8",
  );
  const r = debianPackageLicense(text, "linux");
  assert.equal(r.main, "GPL-2.0-only");
  assert.ok(isLicenseExpression(r.expression));
  const x11 = r.licenses.find((l) => l.debianName === "GPL-2+-or-X11");
  assert.equal(x11?.id, "LicenseRef-GPL-2-plus-or-X11");
  assert.equal(x11?.known, false);
  assert.match(x11?.text ?? "", /\S/);
  const crypto = r.licenses.find((l) => l.id === "LicenseRef-CRYPTOGAMS");
  assert.ok(crypto?.text, "CRYPTOGAMS keeps the text of its stand-alone License paragraph");
});

test("a copyright file that is not machine-readable (libc6) is handled: licence unknown, text kept", () => {
  const text = doc("libc6");
  const r = debianPackageLicense(text, "libc6");
  assert.equal(r.machineReadable, false);
  assert.equal(r.expression, "LicenseRef-libc6-unknown");
  assert.equal(r.licenses[0]!.text, text);
  const junk = debianPackageLicense("just some words\n\nand more", "odd");
  assert.equal(junk.expression, "LicenseRef-odd-unknown");
});

test("every copyright file on this machine parses into a valid SPDX expression", () => {
  let n = 0;
  for (const pkg of readdirSync("/usr/share/doc")) {
    const f = `/usr/share/doc/${pkg}/copyright`;
    if (!existsSync(f)) continue;
    const r = debianPackageLicense(readFileSync(f, "utf8"), pkg);
    assert.ok(isLicenseExpression(r.expression), `${pkg}: ${r.expression}`);
    n++;
  }
  assert.ok(n > 50, `only ${n} copyright files found`);
});
