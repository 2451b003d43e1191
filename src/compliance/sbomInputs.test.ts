import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { recordedSbomInputs, sbomInputsProblem } from "./sbomInputs.js";

const good = {
  v: 1,
  debian: {
    release: "12",
    arch: "amd64",
    packages: {
      "musl-dev": { version: "1.2.3-1", source: "musl", copyrightFile: "licenses/musl-dev.copyright" },
    },
  },
  files: {
    "/usr/lib/libz.so.1": { debPackage: "zlib1g" },
    "/bin/app": { license: "MIT", purl: "pkg:generic/app@1.0" },
  },
  created: 1700000000,
};

test("manifest.sbom: the proposed shape is accepted, each kind of mistake is named by its key", () => {
  assert.equal(sbomInputsProblem(good), undefined);
  assert.equal(sbomInputsProblem({ v: 1 }), undefined);
  assert.match(sbomInputsProblem({ v: 2 }) ?? "", /^v: expected 1/);
  assert.match(sbomInputsProblem({ ...good, extra: 1 }) ?? "", /^extra: unknown key/);
  assert.match(
    sbomInputsProblem({ ...good, debian: { ...good.debian, packages: { x: { source: "y" } } } }) ?? "",
    /^debian\.packages\.x\.version: expected a non-empty string/,
  );
  assert.match(sbomInputsProblem({ ...good, files: { "rel/path": {} } }) ?? "", /files\.rel\/path: bad key/);
  assert.match(
    sbomInputsProblem({ ...good, files: { "/a": { purl: "http://x" } } }) ?? "",
    /files\.\/a\.purl: expected a purl/,
  );
  assert.match(sbomInputsProblem({ ...good, created: -1 }) ?? "", /created/);
});

test("an image whose manifest.sbom is invalid is refused with KILN_EIMAGE_INVALID", () => {
  const m = { sbom: { v: 1, created: "yesterday" } } as unknown as ImageManifest;
  assert.throws(() => recordedSbomInputs(m, "out/x"), {
    code: "KILN_EIMAGE_INVALID",
    message: /"out\/x".*created/,
  });
  assert.equal(recordedSbomInputs({} as ImageManifest), undefined);
  assert.deepEqual(recordedSbomInputs({ sbom: good } as unknown as ImageManifest), good);
});
