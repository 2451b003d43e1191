// Compliance on an image made by the real `kiln bake` (examples/hello, stock Debian kernel): no facts passed
// in, everything read from the image, its manifest and this host.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { collectParts, type ImageParts } from "../../src/compliance/parts.js";
import { enforcePolicy, parsePolicy } from "../../src/compliance/policy.js";
import { readCpio } from "../../src/core/cpioRead.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { checkSboms, cyclonedxValidator } from "./complianceSchemas.js";
import { helloImage } from "./imageFixture.js";

let image: string;
let parts: ImageParts;
let files: string[];
const tmp = tmpDir("kiln-compliance-bake-");

before(async () => {
  image = await helloImage();
  parts = await collectParts(await readImage(image));
  files = readCpio(readFileSync(join(image, "initrd")))
    .filter((e) => e.type !== "dir")
    .map((e) => e.path);
});
after(() => tmp.cleanup());

test("kiln sbom of a baked hello: both formats valid against the official schemas, every initrd file listed", async () => {
  const { spdx } = await checkSboms(image, files);
  assert.ok(files.some((f) => f.endsWith(".ko")) && files.includes("/init") && files.includes("/bin/hello"));

  const out = join(tmp.path, "hello.cdx.json");
  const cdx = await runKiln(["sbom", image, "--format", "cyclonedx", "-o", out]);
  assert.equal(cdx.code, 0, cdx.stderr);
  const vc = cyclonedxValidator();
  assert.ok(vc(JSON.parse(readFileSync(out, "utf8"))), JSON.stringify(vc.errors?.slice(0, 3)));
  const again = await runKiln(["sbom", image, "--format", "spdx"]);
  assert.equal(again.stdout, spdx.text, "same image, same SBOM bytes");
});

test("the baked image's parts: Debian kernel and modules, musl from the programs' notes, kiln-init", () => {
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  const k = parts.parts.find((p) => p.kind === "kernel")!;
  assert.equal(k.name, m.kernel.package);
  assert.equal(k.version, m.kernel.version);
  assert.equal(k.debian?.source, "linux");
  assert.equal(k.license, "GPL-2.0-only");
  assert.equal(parts.parts.filter((p) => p.kind === "module").length, m.modules.length);
  const musl = parts.parts.find((p) => p.kind === "libc")!;
  assert.equal(`musl ${musl.version}`, m.programs[0].note.libc);
  assert.match(musl.license, /\bMIT\b/);
  assert.equal(parts.parts.find((p) => p.kind === "init")?.version, m.init.version);
  assert.deepEqual(parts.warnings, []);
});

test("kiln audit matches an advisory for the exact kernel version the bake used, not a fixed one", async () => {
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  const osv = join(tmp.path, "osv");
  mkdirSync(osv);
  const adv = (id: string, fixed: string) => ({
    id,
    modified: "2025-01-01T00:00:00Z",
    affected: [
      {
        package: { ecosystem: "Debian:12", name: "linux" },
        ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed }] }],
      },
    ],
  });
  writeFileSync(join(osv, "a.json"), JSON.stringify(adv("DEBIAN-CVE-2099-1000", `${m.kernel.version}.1`)));
  writeFileSync(join(osv, "b.json"), JSON.stringify(adv("DEBIAN-CVE-2099-1001", m.kernel.version)));
  const r = await runKiln(["audit", image, "--db", osv, "--json", "--fail-on", "unknown"]);
  assert.equal(r.code, 1, r.stderr);
  const found = JSON.parse(r.stdout).findings.map((f: { id: string; target: { version: string } }) => [
    f.id,
    f.target.version,
  ]);
  assert.deepEqual(found, [["DEBIAN-CVE-2099-1000", m.kernel.version]]);
});

test("a deny policy checked on the baked image names the kernel and its modules (GPL-2.0-only)", () => {
  assert.equal(enforcePolicy(parts.parts, parsePolicy({ deny: ["GPL-3.0-or-later"] })), undefined);
  assert.throws(() => enforcePolicy(parts.parts, parsePolicy({ deny: ["GPL-2.0-only"] })), {
    code: "KILN_ELICENSE_DENIED",
    message: /linux-image-[^ ]+ is licensed "GPL-2.0-only"/,
  });
});
