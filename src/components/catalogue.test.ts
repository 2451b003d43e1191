import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { BUILTIN_CATALOGUE_FILES, expandPlatform, getComponent, loadCatalogue } from "./catalogue.js";
import { describePlatform, listComponents, listPlatforms, resolvePlatform } from "./resolve.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-catalogue-"));
after(() => rmSync(dir, { recursive: true, force: true }));
// A home of its own: the cache of validated catalogues goes there.
const env = { ...process.env, KILN_HOME: join(dir, "home") };

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function invalid(
  text: string,
  name = "bad.toml",
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  const p = file(name, text);
  try {
    await loadCatalogue({ extraFiles: [p], env });
  } catch (e) {
    return e as Error & { code?: string };
  }
  assert.fail("the catalogue was accepted");
}

test("the built-in catalogue has the platforms and components the design names", async () => {
  const cat = await loadCatalogue({ env });
  for (const p of ["microvm", "qemu", "firecracker", "xen", "ec2", "hw"]) assert.ok(cat.platforms.has(p), p);
  for (const c of [
    "virtio.pci",
    "virtio.mmio",
    "virtio.blk",
    "virtio.net",
    "virtio.console",
    "virtio.rng",
    "xen.blkfront",
    "xen.netfront",
    "xen.console",
    "ena",
    "nvme",
    "e1000",
    "e1000e",
    "igb",
    "ahci",
    "usb.storage",
    "fs.ext4",
    "fs.iso9660",
    "fs.vfat",
    "fs.9p",
    "net.ipv4",
    "net.ipv6",
    "net.packet",
    "nf.tables",
    "serial.8250",
    "rtc",
  ]) {
    assert.ok(cat.components.has(c), c);
  }
  assert.deepEqual(getComponent(cat, "virtio.net").modules, ["virtio_net"]);
  assert.ok(getComponent(cat, "virtio.net").kconfig.includes("VIRTIO_NET"));
  const qemu = expandPlatform(cat, "qemu");
  for (const c of [
    "kiln.core",
    "virtio.pci",
    "virtio.mmio",
    "virtio.blk",
    "virtio.net",
    "virtio.console",
    "virtio.rng",
    "fs.ext4",
    "net.ipv4",
  ]) {
    assert.ok(qemu.includes(c), c);
  }
  assert.equal(new Set(qemu).size, qemu.length, "each component once");
  assert.ok(qemu.indexOf("kiln.core") < qemu.indexOf("virtio.net"), "included platforms come first");
  // microvm is qemu without what only pc/q35 needs.
  const microvm = expandPlatform(cat, "microvm");
  assert.deepEqual(
    qemu.filter((c) => !microvm.includes(c)),
    ["acpi", "pci", "virtio.pci"],
  );
  assert.ok(microvm.every((c) => qemu.includes(c)));
  // ec2 includes xen: its components, then its own.
  const ec2 = expandPlatform(cat, "ec2");
  for (const c of ["xen.blkfront", "xen.netfront", "ena", "nvme"]) assert.ok(ec2.includes(c), c);
});

test("a user file adds and overrides platforms and components by name", async () => {
  const extra = file(
    "mine.toml",
    `
[components."fs.vfat"]
description = "my vfat"
kconfig = ["VFAT_FS"]
modules = ["vfat"]

[platforms.qemu]
description = "qemu, trimmed"
components = ["kiln.core", "virtio.mmio", "virtio.blk"]

[platforms.router]
description = "a kernel-plane router"
include = ["qemu"]
components = ["net.ipv6", "nf.tables", "fs.vfat"]
`,
  );
  const cat = await loadCatalogue({ extraFiles: [extra], env });
  assert.deepEqual(expandPlatform(cat, "qemu"), ["kiln.core", "virtio.mmio", "virtio.blk"]);
  assert.deepEqual(expandPlatform(cat, "router"), [
    "kiln.core",
    "virtio.mmio",
    "virtio.blk",
    "net.ipv6",
    "nf.tables",
    "fs.vfat",
  ]);
  assert.equal(getComponent(cat, "fs.vfat").description, "my vfat");
  assert.equal(getComponent(cat, "fs.vfat").source, extra);
  const listed = await listPlatforms({ extraFiles: [extra], env });
  assert.deepEqual(
    listed.map((p) => p.name),
    [...listed.map((p) => p.name)].sort(),
  );
  assert.ok(listed.some((p) => p.name === "router"));
  // The built-in files are untouched for everyone else.
  assert.deepEqual(getComponent(await loadCatalogue({ env }), "fs.vfat").modules, [
    "vfat",
    "nls_cp437",
    "nls_ascii",
  ]);
});

test("validated catalogues are cached by content, and a changed file is read again", async () => {
  const p = file("cached.toml", '[platforms.one]\ndescription = "first"\ncomponents = ["net.ipv4"]\n');
  await loadCatalogue({ extraFiles: [p], env });
  const cacheDir = join(env.KILN_HOME, "cache", "catalogue");
  const before = readdirSync(cacheDir).length;
  assert.equal((await loadCatalogue({ extraFiles: [p], env })).platforms.get("one")!.description, "first");
  assert.equal(readdirSync(cacheDir).length, before, "a cache hit writes nothing");
  writeFileSync(p, '[platforms.one]\ndescription = "second"\ncomponents = ["net.ipv4"]\n');
  assert.equal((await loadCatalogue({ extraFiles: [p], env })).platforms.get("one")!.description, "second");
  const cached = readdirSync(cacheDir).map((f) => readFileSync(join(cacheDir, f), "utf8"));
  assert.ok(cached.some((t) => t.includes('"second"')));
});

test("a TOML syntax error names the file and the line", async () => {
  const e = await invalid('[platforms.x]\ndescription = "x"\ncomponents = ["net.ipv4",\n\n[oops\n');
  assert.equal(e.code, "KILN_ECATALOGUE_INVALID");
  assert.match(e.message, /bad\.toml/);
  assert.match(e.message, /line \d+/);
});

test("a wrong value names the file, the line of the key and the key", async () => {
  const e = await invalid(
    '# a comment\n[components."my.thing"]\ndescription = "mine"\nkconfig = ["lowercase_is_wrong"]\n',
    "badkey.toml",
  );
  assert.equal(e.code, "KILN_ECATALOGUE_INVALID");
  assert.match(e.message, /badkey\.toml" line 4: key "components\.my\.thing\.kconfig\.0"/);
  assert.deepEqual(e.details, {
    file: join(dir, "badkey.toml"),
    line: 4,
    key: "components.my.thing.kconfig.0",
  });
});

test("unknown keys, unknown components, unknown includes and include cycles are refused", async () => {
  const typo = await invalid('[platforms.x]\ndescription = "x"\ncomponent = ["net.ipv4"]\n');
  assert.equal(typo.code, "KILN_ECATALOGUE_INVALID");
  assert.match(typo.message, /line 3: key "platforms\.x": Unrecognized key: "component"/);
  const unknown = await invalid('[platforms.x]\ndescription = "x"\ncomponents = ["net.ipv5"]\n');
  assert.match(unknown.message, /line 3: key "platforms\.x\.components": unknown component "net\.ipv5"/);
  const inc = await invalid('[platforms.x]\ndescription = "x"\ninclude = ["nowhere"]\n');
  assert.match(inc.message, /unknown platform "nowhere"/);
  const cycle = await invalid(
    '[platforms.a]\ndescription = "a"\ninclude = ["b"]\n[platforms.b]\ndescription = "b"\ninclude = ["a"]\n',
  );
  assert.match(cycle.message, /cycle: a → b → a/);
  const empty = await invalid('[components.nothing]\ndescription = "provides nothing"\n');
  assert.match(empty.message, /needs kconfig symbols or modules/);
  const dotted = await invalid(
    '[components.my.thing]\ndescription = "unquoted dotted name"\nkconfig = ["X"]\n',
  );
  assert.equal(dotted.code, "KILN_ECATALOGUE_INVALID");
  assert.match(dotted.message, /quote a name with dots/);
});

test("unknown platforms and components are usage errors that say what exists", async () => {
  await assert.rejects(
    resolvePlatform("nope", { env }),
    (e: Error & { code?: string; exitCode?: number }) => {
      assert.equal(e.code, "KILN_EPLATFORM_UNKNOWN");
      assert.equal(e.exitCode, 2);
      assert.match(
        (e as unknown as { hint: string }).hint,
        /ec2, firecracker, hw, microvm, qemu, router, xen/,
      );
      return true;
    },
  );
  await assert.rejects(resolvePlatform("qemu", { env, components: ["virtio.nett"] }), {
    code: "KILN_ECOMPONENT_UNKNOWN",
  });
});

test("with a specialized kernel, resolution needs no stock kernel and gives the set's Kconfig symbols", async () => {
  const r = await resolvePlatform("firecracker", { env, kernel: "specialized", components: ["fs.9p"] });
  assert.deepEqual(r.modules, []);
  assert.ok(r.components.every((c) => c.how === "builtin"));
  for (const s of [
    "VIRTIO_MMIO",
    "VIRTIO_MMIO_CMDLINE_DEVICES",
    "VIRTIO_BLK",
    "VIRTIO_NET",
    "EXT4_FS",
    "INET",
    "9P_FS",
  ]) {
    assert.ok(r.kconfig.includes(s), s);
  }
  assert.deepEqual(r.kconfig, [...new Set(r.kconfig)].sort());
});

test("the built-in files are what loadCatalogue reads", () => {
  for (const f of BUILTIN_CATALOGUE_FILES) assert.ok(readFileSync(f, "utf8").length > 0, f);
});

test("without a fetched kernel, stock resolution is KILN_ECOMPONENTS_MISSING; describe and list still answer", async () => {
  await assert.rejects(resolvePlatform("qemu", { env }), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, "KILN_ECOMPONENTS_MISSING");
    assert.match(e.hint!, /kiln components fetch/);
    return true;
  });
  const d = await describePlatform("qemu", { env });
  assert.equal(d.kernel, null);
  assert.ok(d.components.length > 0 && d.components.every((c) => c.how === "unknown"));
  assert.ok(d.kconfig.includes("VIRTIO_NET"));
  const l = await listComponents({ env });
  assert.equal(l.kernel, null);
  assert.ok(l.components.some((c) => c.name === "fs.9p"));
});

test("a kernel package's flavour from its name; an unknown package is the default flavour", async () => {
  const { flavourOfPackage } = await import("./flavour.js");
  assert.equal(flavourOfPackage("linux-image-6.1.0-57-cloud-amd64"), "cloud");
  assert.equal(flavourOfPackage("linux-image-6.1.0-57-amd64"), "generic");
  assert.equal(flavourOfPackage("linux-image-kiln-test"), "cloud");
});

test("xen-host needs the generic flavour and carries Xen; without that kernel it resolves to nothing", async () => {
  const list = await listPlatforms({ env });
  const host = list.find((p) => p.name === "xen-host");
  assert.equal(host?.flavour, "generic");
  assert.equal(list.find((p) => p.name === "qemu")?.flavour, "cloud");
  const d = await describePlatform("xen-host", { env });
  assert.equal(d.flavour, "generic");
  assert.deepEqual(d.hypervisor, { name: "xen", package: "xen-hypervisor-4.17-amd64" });
  assert.equal(d.kernel, null);
  await assert.rejects(resolvePlatform("xen-host", { env }), (e: { code: string; hint: string }) => {
    assert.equal(e.code, "KILN_ECOMPONENTS_MISSING");
    assert.match(e.hint, /kiln components fetch --flavour generic/);
    return true;
  });
});
