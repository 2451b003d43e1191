// The Xen stub domain shipped as Debian's Xen would want it: `kiln bake xen-stubdom OUT deb:qemu-system-xen`,
// then `kiln image deb`, read by dpkg-deb, Debian's DEP-5 reader (python3-debian) and lintian, installed with
// dpkg into a scratch root at the paths libxl of this host's Xen looks in (read from libxenlight itself).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { readCpio } from "../../src/core/cpioRead.js";
import { runKiln, tmpDir } from "../helpers.js";
import { checkSboms } from "./complianceSchemas.js";
import { dpkgRoot } from "./dpkgRoot.js";
import { bakeImage, helloProgram } from "./fixtures.js";

const tmp = tmpDir("kiln-stubdom-deb-");
const env = { DEBFULLNAME: "Kiln Tests", DEBEMAIL: "tests@kiln.example.org" };
const PKG = "kiln-xen-stubdom-qemu";
const image = join(tmp.path, "stubdom");
const deb = join(tmp.path, "stubdom.deb");
let entries: ReturnType<typeof readCpio> = [];

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 28 });

function field(info: string, name: string): string | undefined {
  return new RegExp(`^ ${name}: (.*)$`, "m").exec(info)?.[1];
}

/** The version apt installs (and kiln's bake takes) of a package. */
function candidate(pkg: string): string {
  const v = /^ {2}Candidate: (.+)$/m.exec(sh("apt-cache", ["policy", pkg]))?.[1];
  assert.ok(v && v !== "(none)", `apt knows ${pkg}`);
  return v;
}

/** `SOURCE (= VERSION)` of a binary package's version, as apt's index says (Source: NAME [(VERSION)]). */
function sourceOf(pkg: string, version: string): string {
  const show = sh("apt-cache", ["show", `${pkg}=${version}`]);
  const m = /^Source: (\S+)(?: \((.+)\))?$/m.exec(show);
  return `${m?.[1] ?? pkg} (= ${m?.[2] ?? version})`;
}

/** Where libxl of this host looks for a Linux stub domain: its firmware directory and the two names. */
function libxlDefaults(): { kernel: string; rootfs: string; xen: string } {
  const lib = readdirSync("/usr/lib/x86_64-linux-gnu").find((f) =>
    /^libxenlight\.so\.\d+\.\d+\.\d+$/.test(f),
  );
  assert.ok(lib, "libxenlight is installed (libxenmisc4.17)");
  const strings = sh("strings", [join("/usr/lib/x86_64-linux-gnu", lib)]).split("\n");
  const dir = strings.find((s) => /^\/usr\/lib\/xen-\d+\.\d+\/boot$/.test(s));
  assert.ok(dir, "libxenlight names its firmware directory");
  for (const name of ["qemu-stubdom-linux-kernel", "qemu-stubdom-linux-rootfs"]) {
    assert.ok(strings.includes(name), `libxenlight names ${name}`);
  }
  return {
    kernel: `${dir}/qemu-stubdom-linux-kernel`,
    rootfs: `${dir}/qemu-stubdom-linux-rootfs`,
    xen: /xen-(\d+\.\d+)/.exec(dir)![1]!,
  };
}

before(async () => {
  const b = await runKiln(
    ["bake", "xen-stubdom", image, "deb:qemu-system-xen", "--kernel", "stock", "--quiet"],
    {
      timeoutMs: 300_000,
    },
  );
  assert.equal(b.code, 0, b.stderr);
  entries = readCpio(readFileSync(join(image, "initrd")));
  const r = await runKiln(["image", "deb", image, "-o", deb, "--json"], { env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.cleanup());

test("the stub domain image runs QEMU and Xen's QMP proxy from Debian, with no shell and no busybox", () => {
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  const dm = m.config.rc.find((r: { argv_xen_dm?: boolean }) => r.argv_xen_dm);
  assert.equal(dm.bin, "/usr/libexec/xen-qemu-system-i386");
  assert.ok(m.config.rc.some((r: { bin: string }) => r.bin.endsWith("/vchan-socket-proxy")));
  const paths = entries.map((e) => e.path);
  assert.ok(paths.includes("/usr/libexec/xen-qemu-system-i386"));
  for (const p of paths) {
    assert.ok(!["sh", "bash", "dash", "ash", "busybox"].includes(basename(p)), `${p} is a shell`);
  }
  assert.ok(!paths.includes("/bin/sh") && !paths.includes("/usr/bin/sh"));
  const shells = ["bash", "dash", "busybox", "busybox-static", "mksh", "zsh"];
  for (const pkg of Object.keys(m.sbom.debian.packages)) assert.ok(!shells.includes(pkg), `${pkg} is in`);
  for (const [path, f] of Object.entries(m.sbom.files as Record<string, { debPackage?: string }>)) {
    assert.ok(!shells.includes(f.debPackage ?? ""), `${path} comes from ${f.debPackage}`);
  }
});

test("kiln verify rebakes the stub domain image to the same bytes (the platform's programs and mounts included)", async () => {
  const r = await runKiln(["verify", image, "--json"], { env, timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).differences, []);
});

test("kiln sbom lists QEMU from qemu-system-xen and every library with the package dpkg says and a licence", async () => {
  const files = entries.filter((e) => e.type !== "dir").map((e) => e.path);
  const { spdx, cdx } = await checkSboms(image, files);
  type SpdxPackage = { SPDXID: string; name: string; versionInfo?: string; licenseConcluded?: string };
  const doc = spdx.doc as {
    packages: SpdxPackage[];
    files: { SPDXID: string; fileName: string; licenseConcluded?: string }[];
    relationships: { spdxElementId: string; relationshipType: string; relatedSpdxElement: string }[];
  };
  const known = (l: string | undefined) => l !== undefined && l !== "NOASSERTION" && l !== "NONE";
  // QEMU: the program's package is qemu-system-xen at apt's version, and it contains the file.
  const qemuFile = doc.files.find((f) => f.fileName === "./usr/libexec/xen-qemu-system-i386");
  assert.ok(qemuFile && known(qemuFile.licenseConcluded), JSON.stringify(qemuFile));
  const holder = doc.relationships.find(
    (r) => r.relationshipType === "CONTAINS" && r.relatedSpdxElement === qemuFile.SPDXID,
  );
  const program = doc.packages.find((p) => p.SPDXID === holder?.spdxElementId);
  assert.equal(program?.name, "qemu-system-xen");
  assert.equal(program?.versionInfo, candidate("qemu-system-xen"));
  // Every shared library: a package named as dpkg names the file's owner on this host, with a licence.
  const libs = entries.filter((e) => e.type === "file" && /\.so[.\d]*$/.test(e.path));
  assert.ok(libs.length >= 30, `${libs.length} libraries`);
  const components = (cdx.components ?? []) as { name: string; licenses?: unknown[] }[];
  for (const lib of libs) {
    const owner = sh("dpkg-query", ["-S", lib.path]).split(":")[0]!;
    const pkg = doc.packages.find((p) => p.name === owner);
    assert.ok(pkg && known(pkg.licenseConcluded), `${lib.path}: ${owner} ${JSON.stringify(pkg)}`);
    assert.ok(
      components.some((c) => c.name === owner && (c.licenses?.length ?? 0) > 0),
      `${owner} in CycloneDX`,
    );
  }
});

test("dpkg-deb reads the package: libxl's Xen, a version from what is inside, Built-Using naming qemu, linux, xen, glibc", () => {
  const info = sh("dpkg-deb", ["--info", deb]);
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  const { xen } = libxlDefaults();
  assert.equal(field(info, "Package"), PKG);
  assert.equal(field(info, "Architecture"), "amd64");
  assert.equal(field(info, "Maintainer"), "Kiln Tests <tests@kiln.example.org>");
  assert.equal(field(info, "Recommends"), `xen-utils-${xen}`);
  assert.equal(field(info, "Enhances"), `xen-utils-${xen}`);
  assert.equal(field(info, "Depends"), undefined);
  // QEMU's Debian version, the kernel's, and the image's digest (the sha256 of its manifest).
  const digest = createHash("sha256")
    .update(readFileSync(join(image, "manifest.json")))
    .digest("hex");
  const version = `${candidate("qemu-system-xen")}+linux${m.kernel.version.replaceAll("-", "+")}+g${digest.slice(0, 10)}`;
  assert.equal(field(info, "Version"), version);
  assert.equal(spawnSync("dpkg", ["--validate-version", version]).status, 0);
  const built = field(info, "Built-Using")!.split(", ");
  const kernelPkg = sh("apt-cache", ["show", `${m.kernel.package}=${m.kernel.version}`]);
  const linux = /^Built-Using: (linux \(= [^)]+\))/m.exec(kernelPkg)?.[1];
  for (const want of [
    sourceOf("qemu-system-xen", candidate("qemu-system-xen")),
    sourceOf(`xen-utils-${xen}`, candidate(`xen-utils-${xen}`)),
    sourceOf("libc6", candidate("libc6")),
    sourceOf("libglib2.0-0", candidate("libglib2.0-0")),
    linux!,
  ]) {
    assert.ok(built.includes(want), `Built-Using lacks ${want}: ${built.join(", ")}`);
  }
  assert.deepEqual(built, [...built].sort());
});

test("dpkg installs the kernel and the initrd byte for byte where libxl looks by default", () => {
  const { root, admin, dpkg } = dpkgRoot(join(tmp.path, "root"));
  const install = dpkg(["-i", deb]);
  assert.equal(install.status, 0, install.stderr);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const status = sh("dpkg-query", [`--admindir=${admin}`, "-W", "-f", "${Package} ${Status}\n"]);
  assert.match(status, new RegExp(`^${PKG} install ok installed$`, "m"));
  const { kernel, rootfs } = libxlDefaults();
  assert.deepEqual(readFileSync(join(root, kernel)), readFileSync(join(image, "kernel")));
  assert.deepEqual(readFileSync(join(root, rootfs)), readFileSync(join(image, "initrd")));
  const listed = sh("dpkg-query", [`--admindir=${admin}`, "-L", PKG])
    .trim()
    .split("\n");
  for (const f of [
    kernel,
    rootfs,
    `/usr/share/doc/${PKG}/copyright`,
    `/usr/share/lintian/overrides/${PKG}`,
  ]) {
    assert.ok(listed.includes(f), `${f} not in dpkg -L`);
  }
  const doc = join(root, "usr/share/doc", PKG);
  assert.ok(
    readdirSync(doc).includes("changelog.Debian.gz"),
    "a version with a revision: changelog.Debian.gz",
  );
  const removed = dpkg(["--purge", PKG]);
  assert.equal(removed.status, 0, removed.stderr);
});

test("its SBOMs are kiln sbom's, byte for byte; its copyright is DEP-5 as Debian reads it and names every part", async () => {
  const x = join(tmp.path, "x");
  sh("dpkg-deb", ["-x", deb, x]);
  const doc = join(x, "usr/share/doc", PKG);
  for (const [format, file] of [
    ["spdx", "sbom.spdx.json"],
    ["cyclonedx", "sbom.cdx.json"],
  ] as const) {
    const out = join(tmp.path, file);
    const r = await runKiln(["sbom", image, "--format", format, "-o", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readFileSync(join(doc, file)), readFileSync(out), file);
  }
  // python3-debian's strict reader: Files paragraphs, their licences, and the stand-alone License paragraphs.
  const reader = join(tmp.path, "dep5.py");
  writeFileSync(
    reader,
    [
      "import json, sys, warnings",
      "import debian.copyright as c",
      "warnings.simplefilter('error')",
      "with open(sys.argv[1]) as f:",
      "    cp = c.Copyright(f, strict=True)",
      "print(json.dumps({",
      "  'files': [{'files': list(p.files), 'license': p.license.synopsis, 'comment': p.comment or ''}",
      "            for p in cp.all_files_paragraphs()],",
      "  'licenses': [p.license.synopsis for p in cp.all_license_paragraphs()]}))",
    ].join("\n"),
  );
  const parsed = JSON.parse(sh("/usr/bin/python3", [reader, join(doc, "copyright")])) as {
    files: { files: string[]; license: string; comment: string }[];
    licenses: string[];
  };
  const { kernel, rootfs } = libxlDefaults();
  assert.deepEqual(
    parsed.files.map((f) => f.files.join(" ")),
    ["*", kernel.slice(1), rootfs.slice(1)],
  );
  for (const f of parsed.files) {
    const ids = f.license.split(/\s+|[()]/).filter((w) => w && !/^(and|or|with|WITH)$/.test(w));
    for (const id of ids) assert.ok(parsed.licenses.includes(id), `no License paragraph for ${id}`);
  }
  // Continuation lines as python-debian keeps them, less the one space deb822 puts before each.
  const comment = parsed.files[2]!.comment.replace(/^ /gm, "");
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  for (const pkg of Object.keys(m.sbom.debian.packages).filter((p: string) => !p.startsWith("linux-image"))) {
    assert.ok(
      comment.includes(`; Debian package ${pkg}, source `),
      `${pkg} missing from the initrd's comment`,
    );
  }
  assert.match(comment, /^kiln-init \S+ \(\/init\): Apache-2\.0$/m);
  assert.match(comment, /^ {2}\/usr\/libexec\/xen-qemu-system-i386$/m);
  assert.match(comment, /^ {2}\/usr\/lib\/xen-\d+\.\d+\/bin\/vchan-socket-proxy$/m);
});

test("lintian: nothing at any level but the overrides the package carries, each with its reason", () => {
  const r = spawnSync(
    "lintian",
    [
      "--display-info",
      "--display-experimental",
      "--pedantic",
      "--show-overrides",
      "--tag-display-limit",
      "0",
      deb,
    ],
    { encoding: "utf8" },
  );
  const tags = r.stdout.split("\n").filter((l) => /^[A-Z]: /.test(l));
  const others = tags.filter((l) => !/^[ON]: /.test(l));
  assert.deepEqual(others, [], r.stdout);
  const overridden = new Set(tags.filter((l) => l.startsWith("O: ")).map((l) => l.split(/\s+/)[2]));
  assert.deepEqual([...overridden].sort(), [
    "copyright-refers-to-symlink-license",
    "spelling-error-in-copyright",
  ]);
  assert.ok(
    tags.some((l) => l.startsWith("N: ")),
    "each override shows its justification",
  );
});

test("the same image gives the same bytes; KILN_DEB_VERSION and --name are the packager's", async () => {
  const again = join(tmp.path, "again.deb");
  const r = await runKiln(["image", "deb", image, "-o", again], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readFileSync(again), readFileSync(deb));
  const own = join(tmp.path, "own.deb");
  const o = await runKiln(["image", "deb", image, "-o", own, "--name", "qemu-stubdom-linux"], {
    env: { ...env, KILN_DEB_VERSION: "4.17.7-1" },
  });
  assert.equal(o.code, 0, o.stderr);
  const info = sh("dpkg-deb", ["--info", own]);
  assert.equal(field(info, "Package"), "qemu-stubdom-linux");
  assert.equal(field(info, "Version"), "4.17.7-1");
});

test("a stub domain package takes no command line, and needs Xen's proxy to know its Xen", async () => {
  const r = await runKiln(["image", "deb", image, "-o", join(tmp.path, "c.deb"), "--cmdline", "loglevel=7"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /KILN_EOPTION_CONFLICT: .*"loglevel=7".*stubdomain_cmdline/);
  // An image that takes libxl's arguments but carries no vchan-socket-proxy from xen-utils.
  const config = join(tmp.path, "dm.json");
  writeFileSync(config, JSON.stringify({ v: 1, rc: [{ bin: "/bin/hello", argv_xen_dm: true }] }));
  const fake = await bakeImage(join(tmp.path, "fake"), [await helloProgram(), "--config", config]);
  const out = join(tmp.path, "fake.deb");
  const f = await runKiln(["image", "deb", fake, "-o", out]);
  assert.equal(f.code, 2);
  assert.match(f.stderr, /KILN_ESTUBDOM_XEN_UNKNOWN: .*"hello".*no vchan-socket-proxy/);
  assert.match(f.stderr, /hint: .*kiln bake xen-stubdom/);
  assert.deepEqual(
    readdirSync(tmp.path).filter((e) => e.startsWith("fake.deb")),
    [],
  );
});
