// The specialized kernel end to end: built from Debian's linux-source-6.1 for the `qemu` platform's symbols
// (minutes, once per shared test home; later runs reuse it), found again without running anything, and
// booted under QEMU (TCG) with a static musl /init, as a bzImage on microvm and as the PVH ELF inside it.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BASE_SYMBOLS, configHashOf } from "../../src/components/kconfigPlan.js";
import { resolvePlatform } from "../../src/components/resolve.js";
import {
  buildSpecializedKernel,
  configureSpecializedKernel,
  findSpecializedKernel,
  listSpecializedKernels,
  type SpecializedKernel,
} from "../../src/components/specialized.js";
import { bzImageElf } from "../../src/core/bzImage.js";
import { sha256File } from "../../src/core/digest.js";
import { KilnError } from "../../src/core/errors.js";
import type { Progress } from "../../src/core/progress.js";
import { ROOT, run, runKiln, sharedHome, tmpDir } from "../helpers.js";

const LINE = "kiln-specialized-hello: ok";
const env = { ...process.env, KILN_HOME: sharedHome() };
const scratch = tmpDir("kiln-specialized-");
let symbols: string[];
let kernel: SpecializedKernel;
let initrd: string;
const elf = join(scratch.path, "vmlinux");

function recorder(): Progress & { steps: string[] } {
  const steps: string[] = [];
  return { steps, step: (t) => steps.push(t), done() {}, fail() {} };
}

async function boot(kernelPath: string, machine: string) {
  const r = await run(
    "qemu-system-x86_64",
    [
      ...["-M", machine, "-m", "64", "-nodefaults", "-nographic", "-serial", "stdio", "-no-reboot"],
      ...["-kernel", kernelPath, "-initrd", initrd, "-append", "console=ttyS0 quiet panic=-1 reboot=t"],
    ],
    { timeoutMs: 90_000 },
  );
  return r;
}

before(async () => {
  symbols = (await resolvePlatform("qemu", { kernel: "specialized", env })).kconfig;
  // A static musl /init that prints one line and reboots; QEMU's -no-reboot turns that into an exit.
  const src = join(scratch.path, "hello.c");
  writeFileSync(
    src,
    `#include <unistd.h>\n#include <sys/reboot.h>\nint main(void) {\n  static const char m[] = "${LINE}\\n";\n` +
      "  write(1, m, sizeof m - 1);\n  reboot(RB_AUTOBOOT);\n  return 1;\n}\n",
  );
  const root = join(scratch.path, "root");
  mkdirSync(root);
  const cc = await run("musl-gcc", ["-static", "-Os", "-s", "-o", join(root, "init"), src]);
  assert.equal(cc.code, 0, cc.stderr);
  const cpio = await run("bash", [
    "-c",
    'cd "$1" && echo init | cpio -o -H newc --quiet > "$2"',
    "x",
    root,
    "../initrd",
  ]);
  assert.equal(cpio.code, 0, cpio.stderr);
  initrd = join(scratch.path, "initrd");
});

after(() => scratch.cleanup());

describe("specialized kernel", { timeout: 60 * 60_000 }, () => {
  it("builds (or reuses) the kernel for the qemu platform with every symbol on", async () => {
    kernel = await buildSpecializedKernel({ symbols, env });
    assert.deepEqual(kernel.symbolsMissing, [], JSON.stringify(kernel.missingReasons));
    const configText = readFileSync(kernel.config, "utf8");
    for (const s of [...BASE_SYMBOLS, ...symbols])
      assert.match(configText, new RegExp(`^CONFIG_${s}=y$`, "m"), s);
    assert.doesNotMatch(configText, /^CONFIG_MODULES=y$/m, "everything is built in");
    assert.match(configText, /^CONFIG_PHYSICAL_START=0x200000$/m);
    assert.match(configText, /^CONFIG_KERNEL_XZ=y$/m);
    assert.match(configText, /^CONFIG_CC_OPTIMIZE_FOR_SIZE=y$/m);
    assert.equal(kernel.configHash, configHashOf(kernel.sourceVersion, configText));
    assert.match(kernel.release, /^6\.1\.\d+$/);
    assert.equal(await sha256File(kernel.bzImage), kernel.sha256);
    assert.equal(statSync(kernel.bzImage).size, kernel.size);
    // The ELF inside the bzImage: what kiln's launchers start by PVH.
    writeFileSync(elf, await bzImageElf(readFileSync(kernel.bzImage), kernel.bzImage));
    const notes = await run("readelf", ["-n", "-S", elf]);
    assert.match(
      notes.stdout,
      /Xen\s+0x[0-9a-f]+\s+Unknown note type: \(0x00000012\)/,
      "PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)",
    );
    assert.doesNotMatch(notes.stdout, /\.symtab/, "stripped");
  });

  it("answers the same set again from the cache without running any tool", async () => {
    const empty = join(scratch.path, "empty-path");
    mkdirSync(empty);
    const progress = recorder();
    // With nothing on PATH, any make, apt or Kconfig run would fail: a hit must need none of them.
    const again = await buildSpecializedKernel({
      symbols: [...symbols].reverse().map((s) => `CONFIG_${s}`),
      env: { ...env, PATH: empty },
      progress,
    });
    assert.deepEqual(again, kernel);
    assert.deepEqual(progress.steps, []);
    assert.deepEqual(await findSpecializedKernel({ symbols, env: { ...env, PATH: empty } }), kernel);
    assert.equal(await findSpecializedKernel({ symbols: [...symbols, "IPV6"], env }), undefined);
    assert.ok((await listSpecializedKernels(env)).some((k) => k.configHash === kernel.configHash));
  });

  it("boots the bzImage on microvm,acpi=off to a static musl /init", async () => {
    const r = await boot(kernel.bzImage, "microvm,acpi=off");
    assert.ok(r.stdout.includes(LINE), r.stdout + r.stderr);
    assert.equal(r.code, 0, "the guest rebooted and -no-reboot ended QEMU");
  });

  it("boots the ELF inside the bzImage by PVH", async () => {
    const r = await boot(elf, "microvm,acpi=off");
    assert.ok(r.stdout.includes(LINE), r.stdout + r.stderr);
    assert.equal(r.code, 0);
  });

  it("bakes examples/hello with it; kiln launch boots the image, and its BIOS disk, to the program's line", async () => {
    const cc = join(sharedHome(), "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
    const hello = join(scratch.path, "hello");
    const built = await run(cc, ["-Os", "-o", hello, join(ROOT, "examples", "hello", "hello.c")]);
    assert.equal(built.code, 0, built.stderr);
    const img = join(scratch.path, "hello-specialized");
    const baked = await runKiln(["bake", "qemu", img, hello, "--kernel", "specialized", "--json"]);
    assert.equal(baked.code, 0, baked.stderr);
    const m = JSON.parse(baked.stdout).manifest;
    assert.equal(m.kernel.kind, "specialized");
    assert.equal(m.modules.length, 0, "everything is built in");
    assert.equal(m.kernel.sha256, await sha256File(join(img, "kernel")));
    assert.equal(m.kernel.format, "bzimage", "the image carries the small bzImage");
    const r = await runKiln(["launch", "qemu", "--rm", img]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hello from kiln!\r?$/m);
    assert.match(r.stdout, /^kiln: exit 0\r?$/m);
    // A bzImage goes into launchables too: a BIOS disk boots it through SeaBIOS and its decompressor.
    const disk = join(scratch.path, "hello-specialized.img");
    const made = await runKiln(["image", "raw-bios", img, "-o", disk]);
    assert.equal(made.code, 0, made.stderr);
    const d = await runKiln(["launch", "qemu", "--rm", disk]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^Hello from kiln!\r?$/m);
    // UEFI cannot start a kernel without an EFI stub: raw-uefi says so; hybrid formats become BIOS-only.
    const uefi = await runKiln(["image", "raw-uefi", img, "-o", join(scratch.path, "u.img")]);
    assert.equal(uefi.code, 1);
    assert.match(uefi.stderr, /KILN_EKERNEL_NO_EFI: .*specialized kernel has no EFI stub/);
    assert.match(uefi.stderr, /hint: .*raw-bios/);
    const iso = await runKiln(["image", "iso", img, "-o", join(scratch.path, "h.iso"), "--json"]);
    assert.equal(iso.code, 0, iso.stderr);
    assert.equal(JSON.parse(iso.stdout).details.uefi, false);
    const qcow = await runKiln(["image", "qcow2", img, "-o", join(scratch.path, "h.qcow2"), "--json"]);
    assert.equal(qcow.code, 0, qcow.stderr);
    assert.equal(JSON.parse(qcow.stdout).details.scheme, "bios");
  });

  it("names every missing build tool and its Debian package before building", async () => {
    const empty = join(scratch.path, "no-tools");
    mkdirSync(empty, { recursive: true });
    await assert.rejects(
      buildSpecializedKernel({ symbols: [...symbols, "IPV6"], env: { ...env, PATH: empty } }),
      (e: unknown) =>
        e instanceof KilnError &&
        e.code === "KILN_ETOOL_MISSING" &&
        e.message.includes('"make"') &&
        e.message.includes('"xz"') &&
        /apt-get install .*\bbison\b.*\bxz-utils\b/.test(e.hint),
    );
  });

  it("refuses a symbol Kconfig does not know, naming it, before configuring anything", async () => {
    await assert.rejects(
      buildSpecializedKernel({ symbols: [...symbols, "VIRTIO_NETT"], env }),
      (e: unknown) =>
        e instanceof KilnError &&
        e.code === "KILN_EKCONFIG_UNKNOWN" &&
        e.message.includes('"VIRTIO_NETT"') &&
        !e.message.includes('"VIRTIO_NET"'),
    );
  });

  it("reports a symbol that exists but stays off, with why; a request beats kiln's own disable list", async () => {
    // VIRTIO_PCI without VIRTIO_MENU and PCI stays off; KEYBOARD_ATKBD needs INPUT, which kiln turns off by default.
    const c = await configureSpecializedKernel({ symbols: ["VIRTIO_PCI", "KEYBOARD_ATKBD"], env });
    assert.deepEqual(c.symbolsMissing, ["VIRTIO_PCI"]);
    assert.match(
      c.missingReasons.VIRTIO_PCI ?? "",
      /depends on "VIRTIO_MENU && PCI" \(off: PCI, VIRTIO_MENU\)/,
    );
    assert.match(c.configText, /^CONFIG_KEYBOARD_ATKBD=y$/m);
    assert.match(c.configText, /^CONFIG_64BIT=y$/m);
  });
});
