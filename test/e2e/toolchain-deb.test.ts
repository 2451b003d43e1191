// `kiln toolchain --deb`: the toolchain as a Debian package, read by dpkg-deb and lintian, installed by dpkg
// into a scratch root, and used from there at its real paths (/usr/lib/kiln/toolchain, /usr/bin): the scratch
// root's /usr is laid over the host's in a private mount namespace (overlayfs, nothing changes on the host),
// so the installed wrappers, specs and note object are what compile hello.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { after, before, test } from "node:test";
import { parseDep5 } from "../../src/compliance/dep5.js";
import { readElf, readKilnNote } from "../../src/core/elf.js";
import { which } from "../../src/core/exec.js";
import { KILN_VERSION } from "../../src/core/version.js";
import { ROOT, runKiln, tmpDir } from "../helpers.js";
import { dpkgRoot } from "./dpkgRoot.js";

const tmp = tmpDir("kiln-toolchain-deb-");
const env = { DEBFULLNAME: "Kiln Tests", DEBEMAIL: "tests@kiln.example.org" };
const PKG = "kiln-toolchain-x86-64-kiln-linux-musl";
const DIR = "usr/lib/kiln/toolchain";
let deb = "";

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26 });

async function build(out: string): Promise<{ depends: string[]; toolchain: { note: unknown } }> {
  const r = await runKiln(["toolchain", "--deb", "-o", out, "--json"], { env });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

before(async () => {
  deb = join(tmp.path, "toolchain.deb");
  await build(deb);
});
after(() => tmp.cleanup());

function field(info: string, name: string): string | undefined {
  return new RegExp(`^ ${name}: (.*)$`, "m").exec(info)?.[1];
}

/** The Debian package owning a file, as dpkg says. */
const owner = (file: string) => sh("dpkg-query", ["-S", file]).split(":")[0]!;

test("dpkg-deb reads the control fields; Depends names the packages of the compiler, binutils and musl", async () => {
  const info = sh("dpkg-deb", ["--info", deb]);
  assert.equal(field(info, "Package"), PKG);
  assert.equal(field(info, "Version"), KILN_VERSION);
  assert.equal(field(info, "Architecture"), "amd64");
  assert.equal(field(info, "Maintainer"), "Kiln Tests <tests@kiln.example.org>");
  assert.equal(field(info, "Section"), "devel");
  const depends = field(info, "Depends")!.split(", ");
  const gcc = (await which("gcc"))!;
  for (const pkg of [owner(gcc), owner(realpathSync(gcc)), owner((await which("ld.bfd"))!), "musl-dev"]) {
    assert.ok(depends.includes(pkg), `Depends ${depends.join(", ")} lacks ${pkg}`);
  }
  assert.ok(depends.includes("binutils"));
});

test("dpkg-deb lists the toolchain under /usr/lib/kiln/toolchain, its tools in /usr/bin and a DEP-5 copyright", () => {
  const lines = sh("dpkg-deb", ["--contents", deb]).trim().split("\n");
  const entries = new Map(
    lines.map((l) => {
      const path = l.split(/\s+/).slice(5).join(" ");
      const [name, target] = path.split(" -> ");
      return [name!.replace(/^\.\//, "").replace(/\/$/, ""), target] as const;
    }),
  );
  for (const f of [
    `${DIR}/bin/x86_64-kiln-linux-musl-gcc`,
    `${DIR}/bin/x86_64-kiln-linux-musl-pkg-config`,
    `${DIR}/lib/musl.specs`,
    `${DIR}/lib/kiln-note.o`,
    `${DIR}/x86_64-kiln-linux-musl.cmake`,
    `${DIR}/x86_64-kiln-linux-musl.meson-cross.ini`,
    `usr/share/doc/${PKG}/copyright`,
    `usr/share/doc/${PKG}/changelog.gz`,
  ]) {
    assert.ok(entries.has(f), `${f} missing from:\n${lines.join("\n")}`);
  }
  // Every tool is on PATH through a relative symlink into the toolchain's bin (Debian policy 10.5).
  const tools = [...entries.keys()].filter((p) => p.startsWith(`${DIR}/bin/`));
  assert.ok(tools.length >= 15);
  for (const t of tools) {
    const name = posix.basename(t);
    const target = entries.get(`usr/bin/${name}`);
    assert.ok(target && !target.startsWith("/"), `usr/bin/${name} -> ${target}`);
    assert.equal(posix.join("/usr/bin", target), `/${t}`);
  }
  const x = join(tmp.path, "x");
  sh("dpkg-deb", ["-R", deb, x]);
  execFileSync("md5sum", ["--check", "--quiet", "DEBIAN/md5sums"], { cwd: x });
  const wrapper = readFileSync(join(x, DIR, "bin/x86_64-kiln-linux-musl-gcc"), "utf8");
  assert.match(wrapper, /-specs='\/usr\/lib\/kiln\/toolchain\/lib\/musl\.specs'/);
  // Written for its install place: nothing names the scratch directory it was made and checked in.
  const leaks = spawnSync("grep", ["-rlaE", "kiln-toolchain-deb-|/tmp/", x], { encoding: "utf8" });
  assert.equal(leaks.stdout, "", "files naming a scratch path");
  const dep5 = parseDep5(readFileSync(join(x, "usr/share/doc", PKG, "copyright"), "utf8"));
  assert.ok(dep5.machineReadable);
  assert.deepEqual(
    dep5.files.map((f) => [f.files.join(" "), f.license]),
    [
      ["*", "Apache-2.0"],
      [`${DIR}/lib/musl.specs`, "Apache-2.0 and MIT"],
    ],
  );
  assert.deepEqual([...dep5.licenses.keys()].sort(), ["Apache-2.0", "MIT"]);
});

test("lintian finds no errors", () => {
  const r = spawnSync("lintian", ["--tag-display-limit", "0", deb], { encoding: "utf8" });
  assert.deepEqual(
    r.stdout.split("\n").filter((l) => l.startsWith("E:")),
    [],
  );
});

test("same toolchain, same bytes; bad output paths and versions are refused and write nothing", async () => {
  const again = join(tmp.path, "again.deb");
  await build(again);
  assert.deepEqual(readFileSync(again), readFileSync(deb));
  const missing = await runKiln(["toolchain", "--deb", "-o", join(tmp.path, "no", "such", "t.deb")]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /KILN_EOUT_DIR_MISSING/);
  assert.ok(!existsSync(join(tmp.path, "no")));
  const version = await runKiln(["toolchain", "--deb", "-o", join(tmp.path, "v.deb")], {
    env: { KILN_DEB_VERSION: "v1 beta" },
  });
  assert.match(version.stderr, /KILN_EDEB_VERSION: Cannot use "v1 beta"/);
  assert.ok(!existsSync(join(tmp.path, "v.deb")));
  const dir = await runKiln(["toolchain", "--deb", "--dir", tmp.path]);
  assert.match(dir.stderr, /KILN_EOPTION_CONFLICT/);
});

test("dpkg installs it into a scratch root; its gcc, at its installed path, makes a static hello with the kiln note", async () => {
  const { root, admin, dpkg } = dpkgRoot(join(tmp.path, "root"));
  const install = dpkg(["-i", deb]);
  assert.equal(install.status, 0, install.stderr);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const status = sh("dpkg-query", [`--admindir=${admin}`, "-W", "-f", "${Package} ${Status}\n"]);
  assert.match(status, new RegExp(`^${PKG} install ok installed$`, "m"));
  assert.equal(
    readlinkSync(join(root, "usr/bin/x86_64-kiln-linux-musl-gcc")),
    "../lib/kiln/toolchain/bin/x86_64-kiln-linux-musl-gcc",
  );

  // In a private mount namespace, the scratch root's /usr over the host's: /usr/bin/x86_64-kiln-linux-musl-gcc
  // and /usr/lib/kiln/toolchain are the installed files; the host's gcc, binutils and musl stay visible.
  const exe = join(tmp.path, "hello");
  const src = join(ROOT, "examples", "hello", "hello.c");
  const unshare = process.getuid?.() === 0 ? ["--mount"] : ["--mount", "--map-root-user"];
  const cc = spawnSync(
    "unshare",
    [
      ...unshare,
      "sh",
      "-c",
      'mount -t overlay overlay -o "lowerdir=$1/usr:/usr" /usr && shift && exec "$@"',
      "sh",
      root,
      "x86_64-kiln-linux-musl-gcc",
      "-Os",
      "-o",
      exe,
      src,
    ],
    { encoding: "utf8", env: { ...process.env, PATH: "/usr/bin:/bin" } },
  );
  assert.equal(cc.status, 0, `compiling with the installed toolchain failed: ${cc.stderr}`);
  assert.ok(!existsSync("/usr/lib/kiln/toolchain"), "the host's /usr is untouched");
  const elf = await readElf(exe);
  assert.ok(elf.isStatic, "static");
  const toolchainJson = JSON.parse(readFileSync(join(root, DIR, "toolchain.json"), "utf8"));
  assert.deepEqual(readKilnNote(elf), toolchainJson.note);
  assert.equal(execFileSync(exe, { encoding: "utf8" }), "Hello from kiln!\n");

  const remove = dpkg(["--purge", PKG]);
  assert.equal(remove.status, 0, remove.stderr);
  assert.ok(!existsSync(join(root, DIR)) && !existsSync(join(root, "usr/bin/x86_64-kiln-linux-musl-gcc")));
});

test("with --cxx the package carries the C++ runtime; installed, its g++ builds C++, and kiln uses it instead of writing its own", async () => {
  // The runtime comes from the shared test KILN_HOME (scripts/test.mjs builds it once).
  const cxxDeb = join(tmp.path, "toolchain-cxx.deb");
  const r = await runKiln(["toolchain", "--deb", "--cxx", "-o", cxxDeb, "--json"], {
    env,
    timeoutMs: 30 * 60_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const made = JSON.parse(r.stdout) as {
    depends: string[];
    files: string[];
    toolchain: { cxx: { state: string } };
  };
  assert.equal(made.toolchain.cxx.state, "ready");
  assert.ok(made.depends.includes("g++-12") || made.depends.includes("g++"), made.depends.join(", "));
  assert.ok(made.files.includes(`/${DIR}/c++/lib/libstdc++.a`));
  assert.ok(made.files.includes(`/${DIR}/c++/include/c++/12/iostream`));
  assert.ok(made.files.includes("/usr/bin/x86_64-kiln-linux-musl-g++"));
  assert.match(sh("dpkg-deb", ["-I", cxxDeb]), /C\+\+ links with libstdc\+\+ 12/);

  const { root, dpkg } = dpkgRoot(join(tmp.path, "root-cxx"));
  const install = dpkg(["-i", cxxDeb]);
  assert.equal(install.status, 0, install.stderr);
  const src = join(tmp.path, "hello.cc");
  writeFileSync(
    src,
    '#include <iostream>\n#include <stdexcept>\nint main() { try { throw std::runtime_error("from the package"); } catch (const std::exception &e) { std::cout << "C++ " << e.what() << std::endl; } }\n',
  );
  const exe = join(tmp.path, "hello-cxx");
  const home = join(tmp.path, "fresh-home");
  const unshare = process.getuid?.() === 0 ? ["--mount"] : ["--mount", "--map-root-user"];
  // In the namespace: compile with the installed g++, then ask a kiln with an empty KILN_HOME for its toolchain.
  const inNs = spawnSync(
    "unshare",
    [
      ...unshare,
      "sh",
      "-c",
      'mount -t overlay overlay -o "lowerdir=$1/usr:/usr" /usr && x86_64-kiln-linux-musl-g++ -O2 "$2" -o "$3" && exec "$4" "$5" toolchain env --json',
      "sh",
      root,
      src,
      exe,
      process.execPath,
      join(ROOT, "bin", "kiln.js"),
    ],
    { encoding: "utf8", env: { ...process.env, PATH: "/usr/bin:/bin", KILN_HOME: home, CC: "" } },
  );
  assert.equal(inNs.status, 0, inNs.stderr);
  assert.equal(JSON.parse(inNs.stdout).dir, `/${DIR}`, "kiln uses the installed toolchain");
  assert.ok(!existsSync(join(home, "toolchains", "default")), "and writes none of its own");
  assert.ok(!existsSync("/usr/lib/kiln/toolchain"), "the host's /usr is untouched");
  assert.equal(execFileSync(exe, { encoding: "utf8" }), "C++ from the package\n");
  const toolchainJson = JSON.parse(readFileSync(join(root, DIR, "toolchain.json"), "utf8"));
  assert.deepEqual(readKilnNote(await readElf(exe)), toolchainJson.cxx.note);
  assert.equal(toolchainJson.cxx.runtimeDir, `/${DIR}/c++`);
});
