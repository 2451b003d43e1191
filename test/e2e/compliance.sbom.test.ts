import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PackageURL } from "packageurl-js";
import { cyclonedxJson } from "../../src/compliance/cyclonedx.js";
import { collectParts, type ImageParts } from "../../src/compliance/parts.js";
import { spdxJson } from "../../src/compliance/spdx.js";
import { readCpio } from "../../src/core/cpioRead.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { type FixtureImage, helloImage, KERNEL_PACKAGE, KERNEL_VERSION } from "./complianceFixture.js";
import { cyclonedxValidator, spdxValidator } from "./complianceSchemas.js";

let img: FixtureImage;
let parts: ImageParts;
let initrdFiles: string[];

before(async () => {
  img = await helloImage({ unlisted: { "/etc/stray.txt": "not in the manifest\n" } });
  parts = await collectParts(await readImage(img.dir));
  initrdFiles = readCpio(readFileSync(join(img.dir, "initrd")))
    .filter((e) => e.type !== "dir")
    .map((e) => e.path);
});
after(() => img.cleanup());

test("every file in the initrd is a part, mapped to what it is", () => {
  const byPath = new Map(parts.parts.filter((p) => p.path).map((p) => [p.path!, p]));
  for (const f of initrdFiles) assert.ok(byPath.has(f), `${f} is not accounted for`);
  assert.equal(byPath.size, initrdFiles.length);
  assert.equal(byPath.get("/init")?.kind, "init");
  assert.equal(byPath.get("/init")?.license, "Apache-2.0");
  assert.equal(byPath.get("/bin/hello")?.kind, "program");
  assert.equal(byPath.get("/kiln/image.json")?.kind, "config");
  assert.equal(byPath.get("/etc/hello.conf")?.kind, "file");
  const mods = parts.parts.filter((p) => p.kind === "module");
  assert.equal(mods.length, 5);
  for (const m of mods) {
    assert.equal(m.license, "GPL-2.0-only");
    assert.equal(m.containedIn, "kernel");
  }
  const stray = byPath.get("/etc/stray.txt");
  assert.equal(stray?.license, "NOASSERTION");
  assert.ok(parts.warnings.some((w) => w.includes("/etc/stray.txt")));
});

test("the kernel and musl are Debian parts with source packages, purls and licences from copyright files", () => {
  const k = parts.parts.find((p) => p.kind === "kernel")!;
  assert.equal(
    k.purl,
    `pkg:deb/debian/${KERNEL_PACKAGE}@${KERNEL_VERSION}?arch=amd64&distro=debian-12&upstream=linux`,
  );
  assert.deepEqual(
    { source: k.debian?.source, version: k.debian?.sourceVersion },
    { source: "linux", version: KERNEL_VERSION },
  );
  assert.equal(k.license, "GPL-2.0-only");
  const musl = parts.parts.find((p) => p.kind === "libc")!;
  assert.equal(musl.name, "musl");
  assert.equal(musl.debian?.source, "musl");
  assert.match(musl.license, /^MIT AND /);
  assert.match(musl.purl!, /^pkg:deb\/debian\/musl-dev@[^?]+\?arch=amd64&distro=debian-12&upstream=musl$/);
  // Both programs and kiln-init link the musl their kiln note names.
  assert.deepEqual(parts.parts.find((p) => p.id === "init")?.links, [musl.id]);
  assert.deepEqual(parts.parts.find((p) => p.id === "program:/bin/hello")?.links, [musl.id]);
});

test("SPDX 2.3: valid against the official schema, every initrd file listed with SHA1 and SHA256", () => {
  const text = spdxJson(parts);
  const doc = JSON.parse(text);
  const validate = spdxValidator();
  assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 3)));
  const files = new Map<string, { checksums: { algorithm: string; checksumValue: string }[] }>(
    doc.files.map((f: { fileName: string }) => [f.fileName.slice(1), f]),
  );
  for (const f of initrdFiles) {
    const entry = files.get(f);
    assert.ok(entry, `${f} missing from the SPDX files`);
    assert.deepEqual(
      entry.checksums.map((c) => c.algorithm),
      ["SHA1", "SHA256"],
    );
  }
  // Every LicenseRef used is defined with its text.
  const defined = new Set(doc.hasExtractedLicensingInfos.map((x: { licenseId: string }) => x.licenseId));
  for (const ref of text.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) assert.ok(defined.has(ref), ref);
  const kernelPkg = doc.packages.find((p: { name: string }) => p.name === KERNEL_PACKAGE);
  assert.equal(kernelPkg.externalRefs[0].referenceLocator, parts.parts[0]!.purl);
  assert.ok(
    doc.relationships.some(
      (r: { relationshipType: string; spdxElementId: string }) =>
        r.relationshipType === "STATIC_LINK" && r.spdxElementId === "SPDXRef-Package-program-bin-hello",
    ),
  );
  // The schema check has teeth: a file without checksums, or a bad SPDXID, is refused.
  const broken = JSON.parse(text);
  delete broken.files[0].checksums;
  assert.equal(validate(broken), false);
  const badId = JSON.parse(text);
  badId.packages[1].SPDXID = "SPDXRef-has space";
  assert.equal(validate(badId), false);
});

test("CycloneDX 1.6: valid against the official schema, every initrd file a component with kiln:path", () => {
  const doc = JSON.parse(cyclonedxJson(parts));
  const validate = cyclonedxValidator();
  assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 3)));
  const paths = new Set<string>();
  const walk = (cs: { properties?: { name: string; value: string }[]; components?: unknown[] }[] = []) => {
    for (const c of cs) {
      for (const p of c.properties ?? []) if (p.name === "kiln:path") paths.add(p.value);
      walk(c.components as typeof cs);
    }
  };
  walk(doc.components);
  for (const f of initrdFiles) assert.ok(paths.has(f), `${f} missing from the CycloneDX components`);
  const kernel = doc.components.find((c: { type: string }) => c.type === "operating-system");
  assert.equal(kernel.components.length, 5, "modules nest under the kernel");
  assert.equal(kernel.licenses[0].expression, "GPL-2.0-only");
  const broken = structuredClone(doc);
  broken.components[0].type = "not-a-type";
  assert.equal(validate(broken), false);
});

test("the same image gives the same SBOM bytes; another image gives another namespace", async () => {
  const again = await collectParts(await readImage(img.dir));
  assert.equal(spdxJson(again), spdxJson(parts));
  assert.equal(cyclonedxJson(again), cyclonedxJson(parts));
  const other = await helloImage({ files: { "/etc/other": "x" } });
  try {
    const o = await collectParts(await readImage(other.dir));
    assert.notEqual(JSON.parse(spdxJson(o)).documentNamespace, JSON.parse(spdxJson(parts)).documentNamespace);
    assert.notEqual(JSON.parse(cyclonedxJson(o)).serialNumber, JSON.parse(cyclonedxJson(parts)).serialNumber);
  } finally {
    other.cleanup();
  }
});

test("a changed initrd is refused: the SBOM would not describe the manifest", async () => {
  const bad = await helloImage();
  try {
    const p = join(bad.dir, "initrd");
    const b = readFileSync(p);
    b[b.length - 600] ^= 0xff;
    (await import("node:fs")).writeFileSync(p, b);
    await assert.rejects(collectParts(await readImage(bad.dir)), { code: "KILN_EIMAGE_CORRUPT" });
  } finally {
    bad.cleanup();
  }
});

test("files from Debian packages: one library part per package, its files inside it, licence from its copyright", async () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template
  const version = execFileSync("dpkg-query", ["-W", "-f=${Version}", "zlib1g"]).toString().trim();
  const withLib = await helloImage({
    debPackages: [
      {
        name: "zlib1g",
        source: "zlib",
        version,
        copyright: readFileSync("/usr/share/doc/zlib1g/copyright", "utf8"),
      },
    ],
  });
  try {
    const p = await collectParts(await readImage(withLib.dir));
    const pkg = p.parts.find((x) => x.id === "deb:zlib1g")!;
    assert.equal(pkg.kind, "library");
    assert.equal(pkg.license, "Zlib");
    assert.equal(pkg.debian?.source, "zlib");
    assert.match(pkg.purl!, /^pkg:deb\/debian\/zlib1g@.+\?arch=amd64&distro=debian-12&upstream=zlib$/);
    assert.equal(PackageURL.fromString(pkg.purl!).version, version);
    const file = p.parts.find((x) => x.path === "/usr/lib/x86_64-linux-gnu/zlib1g.so.1")!;
    assert.equal(file.containedIn, "deb:zlib1g");
    assert.equal(file.license, "Zlib");
    const doc = JSON.parse(spdxJson(p));
    assert.ok(spdxValidator()(doc));
    assert.ok(cyclonedxValidator()(JSON.parse(cyclonedxJson(p))));
    const ids = new Map(doc.packages.map((x: { name: string; SPDXID: string }) => [x.name, x.SPDXID]));
    assert.ok(
      doc.relationships.some(
        (r: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }) =>
          r.spdxElementId === ids.get("zlib1g") &&
          r.relationshipType === "CONTAINS" &&
          r.relatedSpdxElement.includes("zlib1g.so.1"),
      ),
    );
  } finally {
    withLib.cleanup();
  }
});
