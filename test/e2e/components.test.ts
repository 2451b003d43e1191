// The stock kernel end to end: the real Debian cloud kernel fetched with apt into the shared home (once per
// run), checked against kmod's own tools (modinfo, modprobe), and failure cases in scratch homes that start
// as copies of the shared store, which must come out unchanged.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { describePlatform, listPlatforms, resolvePlatform } from "../../src/components/resolve.js";
import { sha256File } from "../../src/core/digest.js";
import { Store } from "../../src/core/store.js";
import { runKiln, sharedHome, tmpDir } from "../helpers.js";

const home = sharedHome();
const env = { ...process.env, KILN_HOME: home };
const scratch = tmpDir("kiln-components-");
after(() => scratch.cleanup());
const SBIN = "/usr/sbin:/sbin";

interface Fetched {
  fetched: boolean;
  package: string;
  version: string;
  release: string;
  sha256: string;
  digestFrom: string;
  modules: number;
  moduleCompression: string[];
}
interface Shown {
  release: string;
  sha256: string;
  vmlinuz: { path: string; sha256: string; size: number };
  modules: { count: number };
  tree: string;
}

let fetched: Fetched;
let shown: Shown;

function kmod(tool: string, args: string[]): string {
  return execFileSync(tool, args, {
    env: { ...process.env, PATH: `${process.env.PATH}:${SBIN}` },
  }).toString();
}

function json<T>(r: { code: number; stdout: string; stderr: string }): T {
  assert.equal(r.code, 0, r.stderr || r.stdout);
  return JSON.parse(r.stdout) as T;
}

before(async () => {
  fetched = json<Fetched>(await runKiln(["components", "fetch", "--json"], { home, timeoutMs: 600_000 }));
  shown = json<Shown>(await runKiln(["components", "show", "--json"], { home }));
});

test("fetch stores the package apt names, with the SHA256 apt's index gives", () => {
  const depends = execFileSync("apt-cache", ["depends", "linux-image-cloud-amd64"]).toString();
  assert.ok(depends.includes(`Depends: ${fetched.package}`), depends);
  assert.equal(fetched.package, `linux-image-${fetched.release}`);
  assert.equal(fetched.digestFrom, "apt");
  const show = execFileSync("apt-cache", ["show", `${fetched.package}=${fetched.version}`]).toString();
  assert.ok(show.includes(`SHA256: ${fetched.sha256}`), "the digest is apt's");
  assert.equal(shown.sha256, fetched.sha256);
  assert.equal(shown.release, fetched.release);
});

test("the .deb blob and the unpacked tree match the package", async () => {
  const blob = join(home, "store", "blobs", "sha256", fetched.sha256);
  assert.equal(await sha256File(blob), fetched.sha256);
  const listing = execFileSync("dpkg-deb", ["-c", blob], { maxBuffer: 64 << 20 }).toString();
  const kos = [...listing.matchAll(/\.\/lib\/modules\/\S+\.ko(\.(xz|zst|gz))?$/gm)];
  assert.equal(fetched.modules, kos.length, "every module in the package is indexed");
  const compressions = [...new Set(kos.map((m) => m[2] ?? "none"))].sort();
  assert.deepEqual(
    fetched.moduleCompression,
    compressions,
    "the index says how the package compressed modules",
  );
  // The kernel kiln uses is byte for byte the one in the package.
  const fromDeb = execFileSync("sh", [
    "-c",
    `dpkg-deb --fsys-tarfile "$1" 2>/dev/null | tar -xO --occurrence=1 ./boot/vmlinuz-$2 | sha256sum`,
    "sh",
    blob,
    fetched.release,
  ]);
  assert.equal(fromDeb.toString().split(" ")[0], shown.vmlinuz.sha256);
  assert.equal(await sha256File(shown.vmlinuz.path), shown.vmlinuz.sha256);
  // Stored modules are plain .ko (the init loads them with finit_module and no flags).
  const modDir = join(shown.tree, "lib", "modules", fetched.release);
  const stored = execFileSync("find", [modDir, "-name", "*.ko*"]).toString().trim().split("\n");
  assert.equal(stored.length, fetched.modules);
  assert.ok(stored.every((p) => p.endsWith(".ko")));
  const v = await new Store(join(home, "store")).verify();
  assert.deepEqual(v.problems, []);
});

test("a second fetch finds the kernel in the store", async () => {
  const again = json<Fetched>(await runKiln(["components", "fetch", "--json"], { home }));
  assert.equal(again.fetched, false);
  assert.equal(again.sha256, fetched.sha256);
});

test("list says how each component resolves, as kmod's modinfo sees the same tree", async () => {
  const list = json<{
    kernel: { release: string };
    components: {
      name: string;
      how: string;
      modules: string[];
      builtinModules: string[];
      missing: string[];
    }[];
  }>(await runKiln(["components", "list", "--json"], { home }));
  assert.equal(list.kernel.release, fetched.release);
  const byName = new Map(list.components.map((c) => [c.name, c]));
  const where = (m: string) => {
    try {
      return kmod("modinfo", ["-b", shown.tree, "-k", fetched.release, "-F", "filename", m]).trim();
    } catch {
      return "missing";
    }
  };
  for (const c of list.components) {
    for (const m of c.modules) assert.match(where(m), /\.ko$/, `${c.name}: ${m} is a module file`);
    for (const m of c.builtinModules) assert.equal(where(m), "(builtin)", `${c.name}: ${m} is built in`);
    if (c.how === "unavailable" && c.missing.some((m) => !m.startsWith("CONFIG_"))) {
      for (const m of c.missing) assert.equal(where(m), "missing", `${c.name}: ${m} is absent`);
    }
  }
  // Debian's cloud kernel has no 9P (field notes); the design's qemu set is all there.
  assert.equal(byName.get("fs.9p")!.how, "unavailable");
  const config = readFileSync(join(shown.tree, "boot", `config-${fetched.release}`), "utf8");
  assert.doesNotMatch(config, /^CONFIG_9P_FS=[ym]$/m);
  for (const c of [
    "virtio.pci",
    "virtio.mmio",
    "virtio.blk",
    "virtio.net",
    "virtio.console",
    "virtio.rng",
    "fs.ext4",
    "net.ipv4",
  ]) {
    assert.notEqual(byName.get(c)!.how, "unavailable", c);
  }
});

function modprobeOrder(module: string): string[] {
  return kmod("modprobe", ["--show-depends", "-d", shown.tree, "-S", fetched.release, module])
    .split("\n")
    .filter((l) => l.startsWith("insmod "))
    .map((l) => l.split(" ")[1]!.replace(/^.*\//, "").replace(/\.ko$/, "").replace(/-/g, "_"));
}

test("qemu resolves to modules in a valid load order, each after what modprobe says it needs", async () => {
  const r = await resolvePlatform("qemu", { env });
  assert.equal(r.kernel.release, fetched.release);
  assert.equal(r.kernel.sha256, shown.vmlinuz.sha256);
  const order = r.modules.map((m) => m.name);
  assert.equal(new Set(order).size, order.length, "each module once");
  const expected = new Set<string>();
  for (const c of r.components) {
    for (const top of c.modules) for (const m of modprobeOrder(top)) expected.add(m);
  }
  assert.deepEqual(
    [...order].sort(),
    [...expected].sort(),
    "the modules are modprobe's closure of the components'",
  );
  for (const [i, m] of order.entries()) {
    for (const dep of modprobeOrder(m).slice(0, -1)) assert.ok(order.indexOf(dep) < i, `${dep} before ${m}`);
  }
  for (const m of r.modules) {
    assert.ok(m.relPath.startsWith(`lib/modules/${fetched.release}/kernel/`), m.relPath);
    assert.equal(m.path, join(shown.tree, m.relPath));
    assert.equal(await sha256File(m.path), m.sha256);
    assert.equal(statSync(m.path).size, m.size);
  }
  const net = r.components.find((c) => c.name === "virtio.net")!;
  assert.deepEqual(net, { name: "virtio.net", how: "module", modules: ["virtio_net"] });
  assert.equal(r.components.find((c) => c.name === "fs.ext4")!.how, "builtin");
});

test("one component's modules load exactly in modprobe's order", async () => {
  const cat = join(scratch.path, "net-only.toml");
  writeFileSync(cat, '[platforms.net-only]\ndescription = "virtio-net only"\ncomponents = ["virtio.net"]\n');
  const r = await resolvePlatform("net-only", { env, extraFiles: [cat] });
  assert.deepEqual(
    r.modules.map((m) => m.name),
    modprobeOrder("virtio_net"),
  );
});

test("a component the kernel lacks is KILN_ECOMPONENT_UNAVAILABLE naming it and the release", async () => {
  await assert.rejects(
    resolvePlatform("qemu", { env, components: ["fs.9p"] }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_ECOMPONENT_UNAVAILABLE");
      assert.ok(e.message.includes('"fs.9p"'));
      assert.ok(e.message.includes(fetched.release));
      return true;
    },
  );
});

test("describe tells per component how it resolves, and why hw's drivers are missing on the cloud kernel", async () => {
  const d = await describePlatform("hw", { env });
  assert.equal(d.kernel!.release, fetched.release);
  const config = readFileSync(join(shown.tree, "boot", `config-${fetched.release}`), "utf8");
  const e1000 = d.components.find((c) => c.name === "e1000")!;
  // Reported as unavailable exactly when the kernel's configuration has no E1000.
  assert.equal(e1000.how === "unavailable", !/^CONFIG_E1000=[ym]$/m.test(config));
  assert.deepEqual(
    e1000.kconfig.find((k) => k.symbol === "E1000"),
    { symbol: "E1000", stock: /^CONFIG_E1000=([ym])$/m.exec(config)?.[1] ?? "n" },
  );
  const q = await describePlatform("qemu", { env });
  assert.ok(q.components.every((c) => c.how !== "unavailable"));
  const r = await resolvePlatform("qemu", { env });
  assert.deepEqual(
    q.modules.map((m) => m.name),
    r.modules.map((m) => m.name),
  );
  const platforms = await listPlatforms({ env });
  assert.deepEqual(
    platforms.find((p) => p.name === "qemu")!.components,
    r.components.map((c) => c.name),
  );
});

test("bake --describe, for people: each component on the stock kernel, the modules in load order; and without a kernel", async () => {
  const r = await runKiln(["bake", "--describe", "microvm"], { home });
  assert.equal(r.code, 0, r.stderr);
  const d = await describePlatform("microvm", { env });
  assert.match(r.stdout, /^platform {2}microvm: QEMU microvm/m);
  assert.match(r.stdout, new RegExp(`^kernel {4}cloud: ${d.kernel!.release} \\(${d.kernel!.package} `, "m"));
  assert.match(r.stdout, /^virtio\.net +module +virtio_net +virtio network interfaces$/m);
  assert.match(r.stdout, /^kiln\.core +builtin +- +/m);
  // The load order line is the resolver's, dependencies first.
  assert.ok(r.stdout.includes(`  ${d.modules.map((m) => m.name).join(" ")}\n`), r.stdout);
  assert.match(
    r.stdout,
    new RegExp(`tinyconfig \\+ ${d.kconfig.length} Kconfig symbols \\(kiln components build microvm\\)`),
  );
  const bare = await runKiln(["bake", "--describe", "microvm"], { home: join(scratch.path, "no-kernel") });
  assert.equal(bare.code, 0, bare.stderr);
  assert.match(bare.stdout, /^kernel {4}cloud: none fetched: run `kiln components fetch`/m);
  assert.match(bare.stdout, /^virtio\.net +unknown +virtio_net /m);
});

test("show on a home without a kernel is KILN_ECOMPONENTS_MISSING with the fetch hint", async () => {
  const r = await runKiln(["components", "show"], { home: join(scratch.path, "empty") });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /KILN_ECOMPONENTS_MISSING/);
  assert.match(r.stderr, /kiln components fetch/);
});

/** A scratch home holding a copy of the shared home's store and kernel pointer (made once). */
let copied: string | undefined;
function copyHome(): string {
  if (copied) return copied;
  const h = join(scratch.path, "copy");
  // Only the kernel's objects: other tests put other things in the shared store, perhaps right now.
  const blob = join("store", "blobs", "sha256", fetched.sha256);
  const tree = join("store", "trees", fetched.sha256);
  mkdirSync(join(h, blob, ".."), { recursive: true });
  mkdirSync(join(h, "components"), { recursive: true });
  mkdirSync(join(h, "store", "tmp")); // the scratch area a store has once it has been used
  cpSync(join(home, blob), join(h, blob));
  cpSync(join(home, tree), join(h, tree), { recursive: true, verbatimSymlinks: true });
  cpSync(join(home, "components", "stock.json"), join(h, "components", "stock.json"));
  copied = h;
  return h;
}

/** Every path under a home with its size, mode and mtime, and the pointer's content. */
function snapshot(h: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const st = lstatSync(p, { bigint: true });
      out.push(
        `${p.slice(h.length)} ${e.isDirectory() ? "dir" : st.size} ${st.mode} ${e.isDirectory() ? "" : st.mtimeNs}`,
      );
      if (e.isDirectory()) walk(p);
    }
  };
  walk(h);
  out.push(readFileSync(join(h, "components", "stock.json"), "utf8"));
  return out.sort();
}

/** Replace a file by a copy with some bytes changed (a new inode: the original is never written). */
function tamper(path: string, at: number): void {
  const b = readFileSync(path);
  b[at] = b[at]! ^ 0x55;
  writeFileSync(`${path}.tampered`, b);
  renameSync(`${path}.tampered`, path);
}

/** Run `fetch --deb` on a scratch home; it must fail with `code` and leave the home as it was. */
async function refused(h: string, deb: string, code: string, status = 1): Promise<string> {
  const before = snapshot(h);
  const r = await runKiln(["components", "fetch", "--deb", deb, "--json"], { home: h });
  assert.equal(r.code, status, r.stdout + r.stderr);
  const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
  assert.equal(err.code, code, err.message);
  assert.deepEqual(snapshot(h), before, "the store and the kernel in use are unchanged");
  return err.message;
}

test("--deb with a damaged or truncated package is refused and changes nothing", async () => {
  const h = copyHome();
  const blob = join(home, "store", "blobs", "sha256", fetched.sha256);
  const size = statSync(blob).size;
  const damaged = join(scratch.path, "damaged.deb");
  cpSync(blob, damaged);
  tamper(damaged, size - 1_000_000); // inside data.tar.xz; the control member still names the package
  const msg = await refused(h, damaged, "KILN_EDIGEST");
  assert.ok(msg.includes(fetched.sha256), "the message quotes apt's digest");

  const truncated = join(scratch.path, "truncated.deb");
  cpSync(blob, truncated);
  truncateSync(truncated, Math.floor(size / 2));
  assert.match(await refused(h, truncated, "KILN_EARCHIVE_INVALID"), /truncated\.deb.*truncated/);

  // Packages apt does not know: their own digest is taken, so the archive itself must hold up.
  const pkg = join(scratch.path, "notkernel");
  mkdirSync(join(pkg, "DEBIAN"), { recursive: true });
  mkdirSync(join(pkg, "usr/share/kiln"), { recursive: true });
  writeFileSync(
    join(pkg, "DEBIAN/control"),
    "Package: kiln-not-a-kernel\nVersion: 1.0\nArchitecture: amd64\nMaintainer: kiln <k@example.org>\nDescription: x\n",
  );
  writeFileSync(join(pkg, "usr/share/kiln/data"), Buffer.alloc(200_000, 1));
  const notKernel = join(scratch.path, "notkernel.deb");
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", pkg, notKernel], { stdio: "ignore" });
  await refused(h, notKernel, "KILN_EKERNEL_PACKAGE_INVALID");
  truncateSync(notKernel, statSync(notKernel).size - 5_000);
  await refused(h, notKernel, "KILN_EARCHIVE_INVALID");
  await refused(h, join(scratch.path, "absent.deb"), "KILN_EDEB_NOT_FOUND", 2);
});

test("a damaged kernel or module in the store is KILN_ESTORE_CORRUPT, and verify reports it", async () => {
  const h = copyHome();
  const henv = { ...process.env, KILN_HOME: h };
  const tree = join(h, "store", "trees", fetched.sha256, "root");
  const vmlinuz = join(tree, "boot", `vmlinuz-${fetched.release}`);
  tamper(vmlinuz, 5_000_000);
  await assert.rejects(
    resolvePlatform("qemu", { env: henv }),
    (e: Error & { code?: string; hint?: string }) => {
      assert.equal(e.code, "KILN_ESTORE_CORRUPT");
      assert.ok(e.message.includes(`vmlinuz-${fetched.release}`));
      assert.match(e.hint!, /kiln components fetch --force/);
      return true;
    },
  );
  const r = await resolvePlatform("qemu", { env }); // the shared store is untouched
  const net = r.modules.find((m) => m.name === "virtio_net")!;
  tamper(join(tree, net.relPath), 100);
  const problems = (await new Store(join(h, "store")).verify()).problems.map((p) => `${p.path} ${p.problem}`);
  assert.deepEqual(
    problems.sort(),
    [
      `trees/${fetched.sha256}/root/${net.relPath} digest mismatch`,
      `trees/${fetched.sha256}/root/boot/vmlinuz-${fetched.release} digest mismatch`,
    ].sort(),
  );
  cpSync(join(shown.tree, "boot", `vmlinuz-${fetched.release}`), vmlinuz);
  await assert.rejects(resolvePlatform("qemu", { env: henv }), (e: Error & { code?: string }) => {
    assert.equal(e.code, "KILN_ESTORE_CORRUPT");
    assert.ok(e.message.includes("virtio_net.ko"));
    return true;
  });
});

test("--deb imports a kernel package apt does not know, storing compressed modules as plain .ko", async () => {
  // A small kernel package from the real kernel's parts, with compressed modules as other kernels ship
  // them (Ubuntu and newer Debian: .ko.xz/.ko.zst; here xz and gzip, which every host has).
  const rel = fetched.release;
  const src = shown.tree;
  const pkg = join(scratch.path, "kpkg");
  mkdirSync(join(pkg, "DEBIAN"), { recursive: true });
  writeFileSync(
    join(pkg, "DEBIAN/control"),
    `Package: linux-image-kiln-test\nVersion: 1.0\nArchitecture: amd64\nMaintainer: kiln <k@example.org>\nDescription: test kernel\n`,
  );
  mkdirSync(join(pkg, "boot"));
  for (const f of [`vmlinuz-${rel}`, `config-${rel}`]) cpSync(join(src, "boot", f), join(pkg, "boot", f));
  const r = await resolvePlatform("firecracker", { env });
  const modRoot = join(pkg, "usr/lib/modules", rel); // merged-/usr layout, as in newer packages
  mkdirSync(modRoot, { recursive: true });
  cpSync(join(src, "lib/modules", rel, "modules.builtin"), join(modRoot, "modules.builtin"));
  const plain = new Map<string, string>();
  for (const [i, m] of r.modules.entries()) {
    const inMod = m.relPath.slice(`lib/modules/${rel}/`.length);
    mkdirSync(join(modRoot, inMod, ".."), { recursive: true });
    const tool = i % 2 === 0 ? "xz" : "gzip";
    writeFileSync(
      join(modRoot, `${inMod}.${tool === "xz" ? "xz" : "gz"}`),
      execFileSync(tool, ["-c"], { input: readFileSync(m.path) }),
    );
    plain.set(m.name, m.sha256);
  }
  const deb = join(scratch.path, "linux-image-kiln-test.deb");
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z1", "--build", pkg, deb], { stdio: "ignore" });

  const h = join(scratch.path, "imported");
  const got = json<Fetched>(await runKiln(["components", "fetch", "--deb", deb, "--json"], { home: h }));
  assert.equal(got.package, "linux-image-kiln-test");
  assert.equal(got.digestFrom, "file");
  assert.equal(got.sha256, await sha256File(deb));
  assert.deepEqual(got.moduleCompression, ["gz", "xz"]);
  assert.equal(got.modules, r.modules.length);
  const mine = await resolvePlatform("firecracker", { env: { ...process.env, KILN_HOME: h } });
  assert.deepEqual(
    mine.modules.map((m) => [m.name, m.relPath, m.sha256]),
    r.modules.map((m) => [m.name, m.relPath, plain.get(m.name)]),
    "the same modules, decompressed to the same bytes, in the same order",
  );
  assert.equal(mine.kernel.sha256, r.kernel.sha256);
});
