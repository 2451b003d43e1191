import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { Part } from "../compliance/parts.js";
import { changelogName } from "../core/debWriter.js";
import { isKilnError } from "../core/errors.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { isStubDomain, stubdomVersion, stubdomXen } from "./stubdomDeb.js";

const QEMU = "1:7.2+dfsg-7+deb12u18+b3";
const DIGEST = "6a73531b3e13644d92e60059e8712bafd984215304c9623d69539376dc2e2711";
const manifest = (rc: unknown[]) => ({ name: "dm", config: { v: 1, rc } }) as unknown as ImageManifest;

/** dpkg's own ordering: true when `a` sorts before `b`. */
const before = (a: string, b: string) => spawnSync("dpkg", ["--compare-versions", a, "lt", b]).status === 0;

test("the default version is QEMU's, then Linux's, then the image's digest: valid, and later when either is", () => {
  const v = stubdomVersion(QEMU, "6.1.192-3", DIGEST);
  assert.equal(v, `${QEMU}+linux6.1.192+3+g6a73531b3e`);
  assert.equal(spawnSync("dpkg", ["--validate-version", v]).status, 0);
  // lintian's debian-revision-not-well-formed: at most two dots in the revision.
  assert.ok(v.slice(v.lastIndexOf("-") + 1).split(".").length <= 3, v);
  assert.ok(before(v, stubdomVersion(QEMU, "6.1.193-1", DIGEST)), "a kernel update sorts later");
  assert.ok(before(v, stubdomVersion(QEMU, "6.1.192-10", DIGEST)), "a kernel revision counts as a number");
  assert.ok(before(v, stubdomVersion("1:7.2+dfsg-7+deb12u19", "6.1.0-1", DIGEST)), "so does a QEMU update");
  assert.ok(before(stubdomVersion(QEMU, "6.1.192-3", "0".repeat(64)), v), "images differ in the version");
  assert.equal(stubdomVersion(undefined, undefined, DIGEST), "0+g6a73531b3e");
  assert.equal(changelogName(v), "changelog.Debian.gz");
  assert.equal(changelogName("0+g6a73531b3e"), "changelog.gz");
  assert.equal(changelogName("1:2.0"), "changelog.gz");
});

test("a stub domain is an image with libxl's device model arguments; its Xen is that of its xen-utils", () => {
  assert.equal(isStubDomain(manifest([{ bin: "/q", argv_xen_dm: true }])), true);
  assert.equal(isStubDomain(manifest([{ bin: "/q" }])), false);
  assert.equal(isStubDomain(manifest([])), false);
  const proxy = (pkg: string, version: string): Part => ({
    id: "program:/usr/lib/xen-4.17/bin/vchan-socket-proxy",
    kind: "program",
    name: pkg,
    path: "/usr/lib/xen-4.17/bin/vchan-socket-proxy",
    license: "GPL-2.0-only",
    debian: { package: pkg, version, source: "xen", sourceVersion: version, arch: "amd64", release: "12" },
  });
  assert.deepEqual(stubdomXen(manifest([]), [proxy("xen-utils-4.17", "4.17.7+13-g2445b30a44-0+deb12u1")]), {
    utils: "xen-utils-4.17",
    version: "4.17.7+13-g2445b30a44-0+deb12u1",
    xen: "4.17",
  });
  assert.equal(stubdomXen(manifest([]), [proxy("xen-utils-4.19", "4.19.1-1")]).xen, "4.19");
  const refused = (parts: Part[], what: RegExp) =>
    assert.throws(
      () => stubdomXen(manifest([]), parts),
      (e) => isKilnError(e) && e.code === "KILN_ESTUBDOM_XEN_UNKNOWN" && what.test(e.message),
    );
  refused([], /carries no vchan-socket-proxy/);
  refused([proxy("my-xen-tools", "1.0")], /"my-xen-tools 1\.0", not from a xen-utils-X\.Y package/);
});
