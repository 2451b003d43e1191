// The `deb` launchable, read by dpkg-deb and lintian, installed with dpkg into a scratch root, and booted
// there with the run script it installs (real QEMU).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { isKilnError } from "../../src/core/errors.js";
import { getFormat } from "../../src/image/format.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { tmpDir } from "../helpers.js";
import { dpkgRoot } from "./dpkgRoot.js";
import { helloImage } from "./ociFixture.js";

const tmp = tmpDir("kiln-deb-");
const env = { ...process.env, DEBFULLNAME: "Kiln Tests", DEBEMAIL: "tests@kiln.example.org" };
let hello = "";
let deb = "";

before(async () => {
  hello = await helloImage();
  deb = join(tmp.path, "hello.deb");
  await (await getFormat("deb")).make(await readImage(hello), deb, { env });
});
after(() => tmp.cleanup());

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26 });

function field(info: string, name: string): string | undefined {
  return new RegExp(`^ ${name}: (.*)$`, "m").exec(info)?.[1];
}

test("dpkg-deb reads the control fields, Built-Using names the Debian sources apt and dpkg report", async () => {
  const info = sh("dpkg-deb", ["--info", deb]);
  const m = (await readImage(hello)).manifest;
  assert.equal(field(info, "Package"), "kiln-image-hello");
  assert.equal(field(info, "Version"), "0+kiln1");
  assert.equal(field(info, "Architecture"), "amd64");
  assert.equal(field(info, "Maintainer"), "Kiln Tests <tests@kiln.example.org>");
  assert.equal(field(info, "Depends"), "qemu-system-x86");
  // The kernel's binary package comes from linux-signed-amd64, whose Built-Using names the source `linux`.
  const kernelPkg = sh("apt-cache", ["show", `${m.kernel.package}=${m.kernel.version}`]);
  const linux = /^Built-Using: (linux \(= [^)]+\))/m.exec(kernelPkg)?.[1];
  assert.ok(linux, "apt-cache shows the kernel's Built-Using");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const musl = sh("dpkg-query", ["-W", "-f", "${source:Package} (= ${source:Version})", "musl-dev"]);
  assert.equal(field(info, "Built-Using"), [linux, musl].sort().join(", "));
  const kib = Number(field(info, "Installed-Size"));
  // dpkg's rule: the payload's file sizes in KiB, rounded up per file, plus one KiB per directory entry.
  const rows = sh("dpkg-deb", ["--contents", deb]).trim().split("\n");
  const expected = rows.reduce((n, l) => {
    const size = Number(l.split(/\s+/)[2]);
    return n + (l.startsWith("d") ? 1 : Math.ceil(size / 1024));
  }, 0);
  const bytes = ["kernel", "initrd"].reduce((n, f) => n + readFileSync(join(hello, f)).length, 0);
  assert.ok(kib >= bytes / 1024, `Installed-Size ${kib} KiB holds the ${bytes} bytes of kernel and initrd`);
  assert.ok(Math.abs(kib - expected) <= rows.length, `Installed-Size ${kib} KiB, payload ${expected} KiB`);
});

test("dpkg-deb lists exactly the image, its launch configuration and its documentation", () => {
  const paths = sh("dpkg-deb", ["--contents", deb])
    .trim()
    .split("\n")
    .map((l) => l.split(/\s+/).slice(5).join(" "))
    .filter((p) => !p.endsWith("/"));
  assert.deepEqual(paths, [
    "./lib/systemd/system/kiln-hello.service",
    "./usr/lib/kiln/images/hello/initrd",
    "./usr/lib/kiln/images/hello/kernel",
    "./usr/lib/kiln/images/hello/manifest.json",
    "./usr/lib/kiln/images/hello/run",
    "./usr/lib/kiln/images/hello/xen.cfg",
    "./usr/share/doc/kiln-image-hello/changelog.gz",
    "./usr/share/doc/kiln-image-hello/copyright",
    "./usr/share/doc/kiln-image-hello/sbom.cdx.json",
    "./usr/share/doc/kiln-image-hello/sbom.spdx.json",
  ]);
  const x = join(tmp.path, "x");
  sh("dpkg-deb", ["-R", deb, x]);
  // md5sums matches the files, as `debsums` would check them.
  execFileSync("md5sum", ["--check", "--quiet", "DEBIAN/md5sums"], { cwd: x });
  for (const f of ["kernel", "initrd", "manifest.json"]) {
    assert.deepEqual(readFileSync(join(x, "usr/lib/kiln/images/hello", f)), readFileSync(join(hello, f)), f);
  }
  const copyright = readFileSync(join(x, "usr/share/doc/kiln-image-hello/copyright"), "utf8");
  assert.match(
    copyright,
    /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/$/m,
  );
  assert.match(
    copyright,
    /^Files: usr\/lib\/kiln\/images\/hello\/kernel\nCopyright: .*\nLicense: GPL-2\.0-only$/m,
  );
  assert.match(
    copyright,
    /^Files: usr\/lib\/kiln\/images\/hello\/initrd\n(Copyright: .*\n)( .*\n)*License: (?=.*\bMIT\b)(?=.*\bApache-2\.0\b).*$/m,
  );
  const sbom = JSON.parse(readFileSync(join(x, "usr/share/doc/kiln-image-hello/sbom.spdx.json"), "utf8"));
  assert.equal(sbom.spdxVersion, "SPDX-2.3");
  const cdx = JSON.parse(readFileSync(join(x, "usr/share/doc/kiln-image-hello/sbom.cdx.json"), "utf8"));
  assert.equal(cdx.bomFormat, "CycloneDX");
  const xen = readFileSync(join(x, "usr/lib/kiln/images/hello/xen.cfg"), "utf8");
  // xl.cfg(5): KEY = VALUE lines, strings in double quotes; the paths are where dpkg puts the image.
  for (const line of xen.split("\n").filter((l) => l && !l.startsWith("#"))) {
    assert.match(line, /^[a-z_]+ = ("([^"\\]|\\.)*"|\d+)$/, line);
  }
  assert.match(xen, /^type = "pvh"$/m);
  assert.match(xen, /^kernel = "\/usr\/lib\/kiln\/images\/hello\/kernel"$/m);
  assert.match(xen, /^ramdisk = "\/usr\/lib\/kiln\/images\/hello\/initrd"$/m);
  assert.match(xen, /^cmdline = ".*console=hvc0"$/m);
  assert.doesNotMatch(xen, /ttyS0/);
});

test("lintian finds no errors", () => {
  const r = spawnSync("lintian", ["--tag-display-limit", "0", deb], { encoding: "utf8" });
  const errors = `${r.stdout}`.split("\n").filter((l) => l.startsWith("E:"));
  assert.deepEqual(errors, []);
});

test("same image, same bytes; a bad version or name is refused before anything is written", async () => {
  const fmt = await getFormat("deb");
  const again = join(tmp.path, "again.deb");
  await fmt.make(await readImage(hello), again, { env });
  assert.deepEqual(readFileSync(again), readFileSync(deb));
  await assert.rejects(
    fmt.make(await readImage(hello), join(tmp.path, "bad.deb"), {
      env: { ...env, KILN_DEB_VERSION: "v1 beta" },
    }),
    (e) => isKilnError(e) && e.code === "KILN_EDEB_VERSION" && e.message.includes('"v1 beta"'),
  );
  await assert.rejects(
    fmt.make(await readImage(hello), join(tmp.path, "bad.deb"), { env, name: "Bad_Name" }),
    (e) => isKilnError(e) && e.code === "KILN_EDEB_NAME",
  );
});

test("dpkg installs it into a scratch root; the installed run script boots the image and returns its status", async () => {
  const { root, admin, dpkg } = dpkgRoot(join(tmp.path, "root"));
  const exit7 = join(tmp.path, "exit7.deb");
  await (await getFormat("deb")).make(await readImage(await helloImage({ exit: 7 })), exit7, { env });
  const install = dpkg(["-i", deb, exit7]);
  assert.equal(install.status, 0, install.stderr);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const status = sh("dpkg-query", [`--admindir=${admin}`, "-W", "-f", "${Package} ${Status}\n"]);
  assert.match(status, /^kiln-image-hello install ok installed$/m);
  assert.match(status, /^kiln-image-exit7 install ok installed$/m);

  // systemd accepts the unit (pointed at the scratch root, since the run script is not in /usr here).
  const unitDir = join(tmp.path, "units");
  mkdirSync(unitDir);
  const unit = readFileSync(join(root, "lib/systemd/system/kiln-hello.service"), "utf8");
  assert.match(unit, /^ExecStart=\/usr\/lib\/kiln\/images\/hello\/run$/m);
  writeFileSync(join(unitDir, "kiln-hello.service"), unit.replace(/^ExecStart=/m, `ExecStart=${root}`));
  const verify = spawnSync("systemd-analyze", ["verify", "--man=no", join(unitDir, "kiln-hello.service")], {
    encoding: "utf8",
  });
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), "");

  const runEnv = { ...process.env, KILN_ACCEL: "tcg", TMPDIR: tmp.path };
  const ok = spawnSync(join(root, "usr/lib/kiln/images/hello/run"), [], {
    encoding: "utf8",
    env: runEnv,
    timeout: 120_000,
  });
  assert.match(ok.stdout, /kiln: exit 0/, ok.stdout + ok.stderr);
  assert.equal(ok.status, 0);
  const seven = spawnSync(join(root, "usr/lib/kiln/images/exit7/run"), [], {
    encoding: "utf8",
    env: runEnv,
    timeout: 120_000,
  });
  assert.match(seven.stdout, /kiln: exit 7/, seven.stdout + seven.stderr);
  assert.equal(seven.status, 7);
  assert.deepEqual(
    readdirSync(tmp.path).filter((f) => f.startsWith("kiln-")),
    [],
    "the run script removes its console log",
  );
});
