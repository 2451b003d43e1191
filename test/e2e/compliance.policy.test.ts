import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { collectParts, type ImageParts } from "../../src/compliance/parts.js";
import { checkPolicy, enforcePolicy, parsePolicy } from "../../src/compliance/policy.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { type FixtureImage, helloImage } from "./complianceFixture.js";

// An image with a part under GPL-3.0-or-later: coreutils' files, with its real Debian copyright file.
let img: FixtureImage;
let parts: ImageParts;
const tmp = tmpDir("kiln-policy-");

before(async () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's format syntax, not a template
  const version = execFileSync("dpkg-query", ["-W", "-f=${Version}", "coreutils"]).toString().trim();
  img = await helloImage({
    debPackages: [
      {
        name: "coreutils",
        source: "coreutils",
        version,
        copyright: readFileSync("/usr/share/doc/coreutils/copyright", "utf8"),
      },
    ],
  });
  parts = await collectParts(await readImage(img.dir));
});
after(() => {
  img.cleanup();
  tmp.cleanup();
});

test("a deny policy on GPL-3.0-or-later names the coreutils part and its licence; the kernel (GPL-2.0-only) passes", () => {
  const violations = checkPolicy(parts.parts, parsePolicy({ deny: ["GPL-3.0-or-later"] }));
  const named = violations.map((v) => v.part);
  assert.ok(named.includes("deb:coreutils"), named.join(", "));
  assert.ok(named.includes("file:/usr/lib/x86_64-linux-gnu/coreutils.so.1"));
  assert.ok(!named.some((p) => p === "kernel" || p.startsWith("module:") || p.startsWith("libc:")));
  const v = violations.find((x) => x.part === "deb:coreutils")!;
  assert.match(v.license, /GPL-3\.0-or-later/);
  assert.deepEqual(v.offending, ["GPL-3.0-or-later"]);
  assert.throws(() => enforcePolicy(parts.parts, parsePolicy({ deny: ["GPL-3.0-or-later"] }, "kiln.toml")), {
    code: "KILN_ELICENSE_DENIED",
    message:
      /coreutils is licensed ".*GPL-3\.0-or-later.*": GPL-3\.0-or-later matches deny entry "GPL-3\.0-or-later"/,
  });
});

test("kiln licenses --policy fails with KILN_ELICENSE_DENIED; --texts writes the licence texts and copyright files", async () => {
  const policy = join(tmp.path, "kiln.toml");
  writeFileSync(policy, '[policy]\ndeny = ["GPL-3.0-or-later"]\n');
  const r = await runKiln(["licenses", img.dir, "--policy", policy, "--json"]);
  assert.equal(r.code, 1);
  const err = JSON.parse(r.stdout).error;
  assert.equal(err.code, "KILN_ELICENSE_DENIED");
  assert.ok(err.details.violations.some((v: { part: string }) => v.part === "deb:coreutils"));
  writeFileSync(policy, '[policy]\ndeny = ["AGPL-3.0-only"]\n');
  const ok = await runKiln(["licenses", img.dir, "--policy", policy]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /no violations/);

  const texts = join(tmp.path, "texts");
  const t = await runKiln(["licenses", img.dir, "--texts", texts, "--json"]);
  assert.equal(t.code, 0, t.stderr);
  const written = readdirSync(join(texts, "LICENSES"));
  for (const f of ["GPL-2.0-only.txt", "GPL-3.0-or-later.txt", "MIT.txt", "Apache-2.0.txt"])
    assert.ok(written.includes(f), f);
  // The kernel's GPL-2.0 text comes from Debian's common-licenses; musl's copyright file is shipped whole.
  assert.equal(
    readFileSync(join(texts, "LICENSES", "GPL-2.0-only.txt"), "utf8"),
    readFileSync("/usr/share/common-licenses/GPL-2", "utf8"),
  );
  assert.equal(
    readFileSync(join(texts, "copyright", "musl-dev"), "utf8"),
    readFileSync("/usr/share/doc/musl-dev/copyright", "utf8"),
  );
  const report = JSON.parse(t.stdout);
  const gpl2 = report.licenses.find((g: { license: string }) => g.license === "GPL-2.0-only");
  assert.equal(gpl2.parts.length, 6, "the kernel and its five modules");
});

test("checkImagePolicy (for bake): refuses the image, or returns the override to record", async () => {
  const { checkImagePolicy } = await import("../../src/compliance/imagePolicy.js");
  const image = await readImage(img.dir);
  const deny = parsePolicy({ deny: ["GPL-3.0-or-later"] });
  await assert.rejects(checkImagePolicy(image, deny), { code: "KILN_ELICENSE_DENIED", message: /coreutils/ });
  const record = await checkImagePolicy(image, deny, { allowViolations: true });
  assert.equal(record?.overridden, true);
  assert.ok(record?.violations.some((v) => v.part === "deb:coreutils"));
  assert.equal(await checkImagePolicy(image, parsePolicy({ deny: ["AGPL-3.0-only"] })), undefined);
});
