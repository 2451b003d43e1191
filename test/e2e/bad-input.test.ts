// Bad input to every verb through the real CLI, one table row each: kiln must refuse it with a KilnError
// (a KILN_E code and a hint; --json where the verb has it), never KILN_EINTERNAL or a stack trace, leave
// nothing behind (the case's directory, KILN_HOME and the system tmpdir as they were) and start no QEMU:
// bad input is refused before anything boots.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { sweepScratch } from "../../src/core/scratchName.js";
import { runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";
import { qemuProcesses } from "./launchFixture.js";
import { helloImage } from "./ociFixture.js";

const work = tmpDir("kiln-bad-input-");
process.on("exit", () => work.cleanup());
/** A KILN_HOME of its own (with the shared kernel and store), so that scratch left in it is seen. */
const home = join(work.path, "home");
const fx = { img: "", prog: "" };

before(async () => {
  mkdirSync(home);
  for (const d of ["components", "store"]) symlinkSync(join(sharedHome(), d), join(home, d));
  // The toolchain records its KILN_HOME: this home gets its own.
  const tc = await runKiln(["toolchain", "--quiet"], { home });
  assert.equal(tc.code, 0, tc.stderr);
  fx.img = await helloImage();
  fx.prog = await helloProgram();
});

interface Case {
  /** Arguments, in the case's own directory (its cwd); @img is a baked image, @prog a kiln program. */
  args: string[];
  /** The error's code. */
  code: string;
  /** Files to make in the case's directory first. */
  setup?: (dir: string) => void;
  /** The verb has no --json (its error is read from stderr). */
  text?: boolean;
}

const file = (name: string, content: string | Buffer) => (dir: string) =>
  writeFileSync(join(dir, name), content);
const dir = (name: string) => (d: string) => mkdirSync(join(d, name), { recursive: true });
const all =
  (...fs: ((d: string) => void)[]) =>
  (d: string) => {
    for (const f of fs) f(d);
  };
/** A FIFO nobody writes to: reading it would wait forever. */
const fifo = (name: string) => (d: string) => execFileSync("mkfifo", [join(d, name)]);
/** A copy of the baked image at `name`, changed by `change`. */
const image = (name: string, change?: (img: string) => void) => (d: string) => {
  cpSync(fx.img, join(d, name), { recursive: true });
  change?.(join(d, name));
};
const UNREACHABLE = "127.0.0.1:9"; // discard: nothing listens there
// A target that does not compile: run must refuse a bad launch option before it builds anything.
const BROKEN = file("broken.c", "int main(void) { return }\n");
const RECIPE = 'name = "x"\nversion = "1.0.0"\nlicense = "MIT"\n[build]\nsystem = "make"\n';
const SOURCED = `${RECIPE}[[sources]]\nurl = "http://${UNREACHABLE}/x-1.0.tar"\nsha256 = "${"0".repeat(64)}"\n`;

const CASES: Record<string, Case[]> = {
  bake: [
    { args: ["bake", "nosuch", "out", "@prog"], code: "KILN_EPLATFORM_UNKNOWN" },
    { args: ["bake", "qemu", "out", "missing-program"], code: "KILN_EPROGRAM_NOT_FOUND" },
    {
      args: ["bake", "qemu", "out", "notes.txt"],
      code: "KILN_ENOT_ELF",
      setup: file("notes.txt", "hello\n"),
    },
    { args: ["bake", "qemu", "out", "/bin/true"], code: "KILN_EPROGRAM_DYNAMIC" },
    { args: ["bake", "qemu", "out", "somedir"], code: "KILN_EPROGRAM_NOT_FOUND", setup: dir("somedir") },
    { args: ["bake", "qemu", "out", "@prog", "--kernel", "huge"], code: "KILN_EKERNEL_KIND" },
    { args: ["bake", "qemu", "out", "@prog", "--add", "nocolon"], code: "KILN_EADD_SPEC" },
    { args: ["bake", "qemu", "out", "@prog", "--add", "missing:/x"], code: "KILN_EADD_NOT_FOUND" },
    {
      args: ["bake", "qemu", "out", "@prog", "--add", "f:relative"],
      code: "KILN_EADD_SPEC",
      setup: file("f", "x"),
    },
    { args: ["bake", "qemu", "out", "@prog", "--config", "missing.json"], code: "KILN_ECONFIG_NOT_FOUND" },
    {
      args: ["bake", "qemu", "out", "@prog", "--config", "c.json"],
      code: "KILN_ECONFIG_INVALID",
      setup: file("c.json", "{"),
    },
    {
      args: ["bake", "qemu", "out", "@prog", "--config", "c.json"],
      code: "KILN_ECONFIG_INVALID",
      setup: file("c.json", '{"v":2}'),
    },
    {
      args: ["bake", "qemu", "out", "@prog", "--config", "c.json"],
      code: "KILN_ECONFIG_INVALID",
      setup: file("c.json", '{"v":1,"hostnme":"x"}'),
    },
    { args: ["bake", "qemu", "out", "@prog", "-c", "missing.toml"], code: "KILN_ECATALOGUE_NOT_FOUND" },
    {
      args: ["bake", "qemu", "out", "@prog", "-c", "c.toml"],
      code: "KILN_ECATALOGUE_INVALID",
      setup: file("c.toml", "[[["),
    },
    { args: ["bake", "qemu", "out", "@prog", "--component", "nosuch"], code: "KILN_ECOMPONENT_UNKNOWN" },
    { args: ["bake", "qemu", "out", "@prog", "--policy", "missing.toml"], code: "KILN_EPOLICY_NOT_FOUND" },
    {
      args: ["bake", "qemu", "out", "@prog", "--policy", "p.toml"],
      code: "KILN_EPOLICY_INVALID",
      setup: file("p.toml", "[policy\n"),
    },
    { args: ["bake", "qemu", "out", "@prog"], code: "KILN_EOUT_EXISTS", setup: file("out", "mine") },
    {
      args: ["bake", "qemu", "out", "@prog"],
      code: "KILN_EOUT_EXISTS",
      setup: all(dir("out"), file("out/mine", "x")),
    },
    { args: ["bake", "--describe", "nosuch"], code: "KILN_EPLATFORM_UNKNOWN" },
    { args: ["bake", "qemu"], code: "KILN_EUSAGE" },
    { args: ["bake", "qemu", "out", "fifo"], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
    {
      args: ["bake", "qemu", "out", "@prog", "--config", "fifo"],
      code: "KILN_ENOT_FILE",
      setup: fifo("fifo"),
    },
    { args: ["bake", "qemu", "out", "@prog", "--config", "/dev/zero"], code: "KILN_ENOT_FILE" },
    {
      args: ["bake", "qemu", "out", "@prog", "--policy", "fifo"],
      code: "KILN_ENOT_FILE",
      setup: fifo("fifo"),
    },
    { args: ["bake", "qemu", "out", "@prog", "-c", "fifo"], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
    { args: ["bake", "qemu", "out", "@prog", "--bogus"], code: "KILN_EUSAGE" },
  ],
  run: [
    { args: ["run", "missing.c"], code: "KILN_ETARGET_NOT_FOUND" },
    { args: ["run", "broken.c"], code: "KILN_EEXEC", setup: BROKEN },
    { args: ["run", "notes.txt"], code: "KILN_ENOT_ELF", setup: file("notes.txt", "hello\n") },
    { args: ["run", "broken.c", "--backend", "vmware"], code: "KILN_EBACKEND_UNKNOWN", setup: BROKEN },
    { args: ["run", "broken.c", "-M", "lots"], code: "KILN_EBAD_MEMORY", setup: BROKEN },
    { args: ["run", "broken.c", "--cpus", "0"], code: "KILN_EBAD_CPUS", setup: BROKEN },
    { args: ["run", "broken.c", "-e", "NOEQUALS"], code: "KILN_EBAD_ENV", setup: BROKEN },
    { args: ["run", "broken.c", "-p", "abc"], code: "KILN_EBAD_PORT", setup: BROKEN },
    { args: ["run", "broken.c", "-p", "70000:80"], code: "KILN_EBAD_PORT", setup: BROKEN },
    { args: ["run", "broken.c", "--net", "wifi"], code: "KILN_EBAD_NET", setup: BROKEN },
    { args: ["run", "broken.c", "--machine", "vax"], code: "KILN_EBAD_MACHINE", setup: BROKEN },
    { args: ["run", "broken.c", "--accel", "warp"], code: "KILN_EBAD_ACCEL", setup: BROKEN },
    { args: ["run", "broken.c", "-b", "missing.img"], code: "KILN_EDISK_NOT_FOUND", setup: BROKEN },
    { args: ["run", "@prog", "--platform", "nosuch"], code: "KILN_EPLATFORM_UNKNOWN" },
    { args: ["run", "deb:"], code: "KILN_EDEB_SPEC" },
    { args: ["run", "pkg:"], code: "KILN_EPKG_SPEC" },
    { args: ["run", "deb:coreutils:/usr/bin/../../etc/shadow"], code: "KILN_EDEB_SPEC" },
    { args: ["run", "pkg:kzcat", "--program", "/usr/bin/kzcat"], code: "KILN_EOPTION_CONFLICT" },
    { args: ["run", "broken.c", "-D", "notaport"], code: "KILN_EBAD_PORT", setup: BROKEN },
  ],
  launch: [
    { args: ["launch", "qemu", "missing-image"], code: "KILN_EIMAGE_NOT_FOUND" },
    {
      args: ["launch", "qemu", "notes.txt"],
      code: "KILN_ELAUNCHABLE_UNKNOWN",
      setup: file("notes.txt", "hello\n"),
    },
    { args: ["launch", "qemu", "-M", "0", "@img"], code: "KILN_EBAD_MEMORY" },
    { args: ["launch", "qemu", "-M", "abc", "@img"], code: "KILN_EBAD_MEMORY" },
    // Less than the stock kernel needs before it can start (pref_address + init_size: 68 MiB).
    { args: ["launch", "qemu", "-M", "32", "@img"], code: "KILN_EMEMORY_TOO_SMALL" },
    { args: ["launch", "qemu", "--cpus", "-1", "@img"], code: "KILN_EBAD_CPUS" },
    { args: ["launch", "qemu", "-e", "=value", "@img"], code: "KILN_EBAD_ENV" },
    { args: ["launch", "qemu", "-p", "8080", "@img"], code: "KILN_EBAD_PORT" },
    { args: ["launch", "qemu", "-p", "0:80", "@img"], code: "KILN_EBAD_PORT" },
    { args: ["launch", "qemu", "-b", "missing.img", "@img"], code: "KILN_EDISK_NOT_FOUND" },
    {
      args: ["launch", "qemu", "-b", "d.img,relative", "@img"],
      code: "KILN_EBAD_DISK",
      setup: file("d.img", ""),
    },
    { args: ["launch", "qemu", "--net", "tap:", "@img"], code: "KILN_EBAD_NET" },
    { args: ["launch", "qemu", "--net", "bridge:br0,ip=notcidr", "@img"], code: "KILN_EBAD_NET" },
    { args: ["launch", "qemu", "--machine", "vax", "@img"], code: "KILN_EBAD_MACHINE" },
    { args: ["launch", "qemu", "--accel", "warp", "@img"], code: "KILN_EBAD_ACCEL" },
    { args: ["launch", "qemu", "-D", "99999", "@img"], code: "KILN_EBAD_PORT" },
    { args: ["launch", "qemu", "--name", "bad/name", "@img"], code: "KILN_EBAD_NAME" },
    { args: ["launch", "qemu", "--uefi", "@img"], code: "KILN_EOPTION_CONFLICT" },
    { args: ["launch", "vmware", "@img"], code: "KILN_EBACKEND_UNKNOWN" },
    {
      args: ["launch", "qemu", "img"],
      code: "KILN_EIMAGE_INVALID",
      setup: image("img", (i) => writeFileSync(join(i, "manifest.json"), "{")),
    },
  ],
  image: [
    { args: ["image", "floppy", "@img", "-o", "x.img"], code: "KILN_EFORMAT_UNKNOWN" },
    { args: ["image", "raw-bios", "missing", "-o", "x.img"], code: "KILN_EIMAGE_NOT_FOUND" },
    {
      args: ["image", "raw-bios", "empty", "-o", "x.img"],
      code: "KILN_EIMAGE_NOT_FOUND",
      setup: dir("empty"),
    },
    { args: ["image", "raw-bios", "@img"], code: "KILN_EUSAGE" },
    { args: ["image", "raw-bios", "@img", "-o", "nodir/x.img"], code: "KILN_EOUT_DIR_MISSING" },
    { args: ["image", "raw-bios", "@img", "-o", "adir"], code: "KILN_EOUT_IS_DIR", setup: dir("adir") },
    { args: ["image", "raw-bios", "@img", "-o", "x.img", "--size", "0"], code: "KILN_ESIZE_INVALID" },
    { args: ["image", "raw-bios", "@img", "-o", "x.img", "--size", "abc"], code: "KILN_ESIZE_INVALID" },
    { args: ["image", "raw-bios", "@img", "-o", "x.img", "--size", "1"], code: "KILN_EDISK_TOO_SMALL" },
    { args: ["image", "qcow2", "@img", "-o", "x.qcow2", "--net", "wifi"], code: "KILN_ENET_INVALID" },
    { args: ["image", "deb", "@img", "-o", "x.deb", "--name", "Bad_Name"], code: "KILN_EDEB_NAME" },
    {
      args: ["image", "raw-bios", "img", "-o", "x.img"],
      code: "KILN_EIMAGE_INVALID",
      setup: image("img", (i) => writeFileSync(join(i, "manifest.json"), "[]")),
    },
    {
      args: ["image", "raw-bios", "img", "-o", "x.img"],
      code: "KILN_EIMAGE_CORRUPT",
      setup: image("img", (i) => {
        rmSync(join(i, "kernel"));
        execFileSync("mkfifo", [join(i, "kernel")]);
      }),
    },
    {
      args: ["image", "raw-bios", "img", "-o", "x.img"],
      code: "KILN_EIMAGE_CORRUPT",
      setup: image("img", (i) =>
        writeFileSync(join(i, "kernel"), readFileSync(join(i, "kernel")).subarray(0, 4096)),
      ),
    },
  ],
  push: [
    { args: ["push", "@img", "::::"], code: "KILN_EREF_INVALID" },
    { args: ["push", "@img", "127.0.0.1:5000/Bad/Repo"], code: "KILN_EREF_INVALID" },
    { args: ["push", "missing", `${UNREACHABLE}/x:1`], code: "KILN_EPUSH_INPUT" },
    { args: ["push", "@img", `${UNREACHABLE}/x:1`, "--format", "tar"], code: "KILN_EPUSH_FORMAT" },
    {
      args: ["push", "a.tar", `${UNREACHABLE}/x:1`, "--format", "oci"],
      code: "KILN_EPUSH_INPUT",
      setup: file("a.tar", "x"),
    },
    {
      args: ["push", "a.tar", `${UNREACHABLE}/x:1`],
      code: "KILN_EOCI_INVALID",
      setup: file("a.tar", "not a tar"),
    },
    { args: ["push", "@img", `${UNREACHABLE}/x:1`], code: "KILN_EREGISTRY_UNREACHABLE" },
    { args: ["push", "fifo", `${UNREACHABLE}/x:1`], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
  ],
  pull: [
    { args: ["pull", "::::", "out"], code: "KILN_EREF_INVALID" },
    { args: ["pull", `${UNREACHABLE}/x:1`, "out"], code: "KILN_EREGISTRY_UNREACHABLE" },
    { args: ["pull", `${UNREACHABLE}/x@sha256:zz`, "out"], code: "KILN_EREF_INVALID" },
    {
      args: ["pull", `${UNREACHABLE}/x:1`, "out"],
      code: "KILN_EREGISTRY_UNREACHABLE",
      setup: file("out", "mine"),
    },
  ],
  pkg: [
    { args: ["pkg", "build", "."], code: "KILN_ERECIPE_NOT_FOUND" },
    { args: ["pkg", "build", "."], code: "KILN_ERECIPE_INVALID", setup: file("kiln.toml", "name = \n") },
    { args: ["pkg", "build", "."], code: "KILN_ERECIPE_INVALID", setup: file("kiln.toml", 'name = "x"\n') },
    {
      args: ["pkg", "install", "--repo", "missing-repo"],
      code: "KILN_EREPO_NOT_FOUND",
      setup: file("kiln.toml", `${RECIPE}[dependencies]\nkz = "^1"\n`),
    },
    {
      args: ["pkg", "add", "bad spec!"],
      code: "KILN_EPKG_SPEC",
      setup: file("kiln.toml", RECIPE),
    },
    {
      args: ["pkg", "add", "kz@notarange"],
      code: "KILN_EPKG_SPEC",
      setup: file("kiln.toml", RECIPE),
    },
    { args: ["pkg", "build", "fifo.toml"], code: "KILN_ENOT_FILE", setup: fifo("fifo.toml") },
    { args: ["pkg", "info", "kz"], code: "KILN_EREPO_NONE" },
    { args: ["pkg", "publish", "ftp://example.org/repo", "."], code: "KILN_EREPO_SPEC" },
    { args: ["pkg", "search", "--repo", `oci://${UNREACHABLE}/kiln`], code: "KILN_EREGISTRY_UNREACHABLE" },
    {
      args: ["pkg", "build", ".", "--mirror", "not a url"],
      code: "KILN_EDOWNLOAD",
      setup: file("kiln.toml", SOURCED),
    },
  ],
  sbom: [
    { args: ["sbom", "missing"], code: "KILN_EIMAGE_NOT_FOUND" },
    { args: ["sbom", "@img", "--format", "xml"], code: "KILN_ESBOM_FORMAT" },
    { args: ["sbom", "@img", "-o", "adir"], code: "KILN_EOUT_IS_DIR", setup: dir("adir") },
    { args: ["sbom", "@img", "-o", "mine.json"], code: "KILN_EOUT_EXISTS", setup: file("mine.json", "mine") },
    { args: ["sbom", "@img", "-o", "/proc/kiln.json"], code: "KILN_ENOENT" },
    {
      args: ["sbom", "img"],
      code: "KILN_EIMAGE_INVALID",
      setup: image("img", (i) => writeFileSync(join(i, "manifest.json"), "{")),
    },
  ],
  licenses: [
    { args: ["licenses", "missing"], code: "KILN_EIMAGE_NOT_FOUND" },
    { args: ["licenses", "@img", "--check", "--policy", "missing.toml"], code: "KILN_EPOLICY_NOT_FOUND" },
    {
      args: ["licenses", "@img", "--check", "--policy", "p.toml"],
      code: "KILN_EPOLICY_INVALID",
      setup: file("p.toml", "[policy\n"),
    },
    { args: ["licenses", "@img", "--check", "--policy", "/dev/zero"], code: "KILN_ENOT_FILE" },
    { args: ["licenses", "@img", "--texts", "t"], code: "KILN_EOUT_EXISTS", setup: file("t", "mine") },
  ],
  audit: [
    { args: ["audit", "@img", "--fail-on", "apocalyptic"], code: "KILN_EAUDIT_LEVEL" },
    { args: ["audit", "--deb", "noequals", "--db", "osv"], code: "KILN_EAUDIT_DEB", setup: dir("osv") },
    { args: ["audit", "@img", "--db", "missing.zip"], code: "KILN_EADVISORIES_NOT_FOUND" },
    { args: ["audit", "missing", "--db", "osv"], code: "KILN_EIMAGE_NOT_FOUND", setup: dir("osv") },
    { args: ["audit", "--deb", "a=1", "--db", "fifo"], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
  ],
  advisories: [
    { args: ["advisories", "import", "missing.zip"], code: "KILN_EADVISORIES_NOT_FOUND" },
    {
      args: ["advisories", "import", "bad.zip"],
      code: "KILN_EZIP_INVALID",
      setup: file("bad.zip", "PK not really"),
    },
    { args: ["advisories", "import", "fifo.zip"], code: "KILN_ENOT_FILE", setup: fifo("fifo.zip") },
    { args: ["advisories", "remove", "nosuch"], code: "KILN_EADVISORIES_NOT_FOUND" },
    {
      args: ["advisories", "import", "osv", "--name", "../x"],
      code: "KILN_EADVISORIES_NAME",
      setup: dir("osv"),
    },
  ],
  inspect: [
    { args: ["inspect", "missing"], code: "KILN_ENOENT" },
    { args: ["inspect", "somedir"], code: "KILN_ENOT_ELF", setup: dir("somedir") },
    { args: ["inspect", "fifo"], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
    { args: ["inspect", "/dev/zero"], code: "KILN_ENOT_FILE" },
    { args: ["inspect", "notes.txt"], code: "KILN_ENOT_ELF", setup: file("notes.txt", "hello\n") },
  ],
  verify: [
    { args: ["verify", "missing"], code: "KILN_EIMAGE_NOT_FOUND" },
    {
      args: ["verify", "img"],
      code: "KILN_EIMAGE_INVALID",
      setup: image("img", (i) => writeFileSync(join(i, "manifest.json"), "{")),
    },
  ],
  components: [
    { args: ["components", "fetch", "--deb", "missing.deb"], code: "KILN_EDEB_NOT_FOUND" },
    {
      args: ["components", "fetch", "--deb", "bad.deb"],
      code: "KILN_EARCHIVE_INVALID",
      setup: file("bad.deb", "!<arch>\nnonsense"),
    },
    { args: ["components", "fetch", "--deb", "fifo"], code: "KILN_ENOT_FILE", setup: fifo("fifo") },
    { args: ["components", "build", "nosuch"], code: "KILN_EPLATFORM_UNKNOWN" },
    { args: ["components", "frobnicate"], code: "KILN_EUSAGE" },
  ],
  toolchain: [
    { args: ["toolchain", "--cc", "no-such-cc", "--dir", "tc"], code: "KILN_ECC_NOT_FOUND" },
    {
      args: ["toolchain", "--dir", "tc"],
      code: "KILN_ETOOLCHAIN_EXISTS",
      setup: all(dir("tc"), file("tc/mine", "x")),
    },
    { args: ["toolchain", "--deb", "-o", "nodir/x.deb"], code: "KILN_EOUT_DIR_MISSING" },
  ],
  store: [
    { args: ["store", "frobnicate"], code: "KILN_EUSAGE" },
    { args: ["store", "verify", "extra"], code: "KILN_EUSAGE" },
  ],
  gc: [
    { args: ["gc", "--grace", "-1"], code: "KILN_EGC_GRACE" },
    { args: ["gc", "--grace", "abc"], code: "KILN_EGC_GRACE" },
  ],
  machines: [
    { args: ["logs", "nosuch"], code: "KILN_EMACHINE_NOT_FOUND", text: true },
    { args: ["stop", "nosuch"], code: "KILN_EMACHINE_NOT_FOUND" },
    { args: ["rm", "nosuch"], code: "KILN_EMACHINE_NOT_FOUND" },
    { args: ["stop", "-t", "abc", "nosuch"], code: "KILN_EBAD_TIMEOUT" },
    { args: ["ps", "--bogus"], code: "KILN_EUSAGE" },
  ],
};

/** Every file and directory under `root` with its size (symlinks as such, not followed). */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = `${rel}${e.name}`;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(join(d, e.name), `${r}/`);
      } else out.push(`${r} ${e.isSymbolicLink() ? "->" : statSync(join(d, e.name)).size}`);
    }
  };
  walk(root, "");
  return out;
}

/**
 * Scratch entries whose kiln is gone, in KILN_HOME (caches may appear: they are not partial) and in the
 * shared store's scratch places.
 */
async function leftovers(): Promise<string[]> {
  const dirs: string[] = [];
  const walk = (d: string) => {
    dirs.push(d);
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
  };
  walk(home);
  const store = join(sharedHome(), "store");
  dirs.push(store, join(store, "tmp"), join(store, "trees"), join(store, "blobs", "sha256"));
  return (await Promise.all(dirs.map((d) => sweepScratch(d, { dryRun: true })))).flat();
}

let caseNo = 0;
for (const [verb, cases] of Object.entries(CASES)) {
  describe(`bad input: ${verb}`, { concurrency: 2 }, () => {
    for (const c of cases) {
      it(c.args.join(" "), async () => {
        const cwd = join(work.path, `case-${caseNo}`);
        const tmp = join(work.path, `tmp-${caseNo++}`);
        mkdirSync(cwd);
        mkdirSync(tmp);
        c.setup?.(cwd);
        chmodSync(cwd, 0o755);
        const before = listing(cwd);
        const args = c.args.map((a) => (a === "@img" ? fx.img : a === "@prog" ? fx.prog : a));
        const r = await runKiln(c.text ? args : [...args, "--json"], {
          home,
          cwd,
          env: { TMPDIR: tmp },
          timeoutMs: 30_000,
        });
        const said = `${r.stdout}${r.stderr}`;
        assert.ok(r.code === 1 || r.code === 2, `exit status ${r.code}: ${said}`);
        assert.doesNotMatch(said, /KILN_EINTERNAL|\n\s+at .+:\d+:\d+\)?\n/, "no internal error, no stack");
        let error: { code?: string; hint?: string };
        if (c.text) {
          const m = /^kiln: error (KILN_E[A-Z0-9_]+): .*\n {2}hint: (.+)/ms.exec(r.stderr);
          assert.ok(m, `an error line and a hint on stderr: ${r.stderr}`);
          error = { code: m[1], hint: m[2] };
        } else {
          error = (JSON.parse(r.stdout) as { error: typeof error }).error;
        }
        assert.equal(error.code, c.code, said);
        assert.ok(error.hint && error.hint.length > 10, `a hint: ${said}`);
        assert.deepEqual(listing(cwd), before, "the case's directory is as it was");
        assert.deepEqual(await leftovers(), [], "no scratch of a dead kiln in KILN_HOME");
        assert.deepEqual(readdirSync(tmp), [], "nothing in the system tmpdir");
        assert.deepEqual(qemuProcesses(work.path), [], "no QEMU");
      });
    }
  });
}

it("covers at least 80 bad inputs across the verbs", () => {
  assert.ok(Object.values(CASES).flat().length >= 80);
});
