// The image launch tests boot. Until `kiln bake` is wired up this is a hand-made image directory per
// src/bake/image.ts: Debian's stock cloud kernel, and an initrd (Debian's cpio) holding a static musl /init
// (test/fixtures/launch/fixture-init.c) that follows kiln-init's console contract and reports the boot
// configuration it received. Swap fixtureImage() for a real `kiln bake` of examples/hello when it lands.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers.js";

const KERNEL_DEBS = join(ROOT, ".kiln-test", "kernel");
const WORK = join(ROOT, ".kiln-test", "launch-fixture");
const INIT_SRC = join(ROOT, "test", "fixtures", "launch", "fixture-init.c");
const MODULES = [
  "kernel/net/core/failover.ko",
  "kernel/drivers/net/net_failover.ko",
  "kernel/drivers/virtio/virtio.ko",
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio_mmio.ko",
  "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
  "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
  "kernel/drivers/virtio/virtio_pci.ko",
  "kernel/drivers/net/virtio_net.ko",
  "kernel/drivers/block/virtio_blk.ko",
];

const sh = (cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}) =>
  execFileSync(cmd, args, { stdio: ["pipe", "pipe", "pipe"], ...opts });

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Build into a temporary sibling and rename into place; a concurrent builder's result is as good. */
function buildOnce(dir: string, fill: (tmp: string) => void): void {
  if (existsSync(dir)) return;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e;
  }
}

function kernelDeb(): string {
  mkdirSync(KERNEL_DEBS, { recursive: true });
  let debs = readdirSync(KERNEL_DEBS).filter((f) => /^linux-image-.*cloud-amd64.*\.deb$/.test(f));
  if (debs.length === 0) {
    const deps = sh("apt-cache", ["depends", "linux-image-cloud-amd64"]).toString();
    const pkg = /Depends: (linux-image-\S+)/.exec(deps)?.[1];
    if (!pkg) throw new Error("cannot find the cloud kernel package with apt-cache depends");
    sh("apt-get", ["download", pkg], { cwd: KERNEL_DEBS });
    debs = readdirSync(KERNEL_DEBS).filter((f) => /^linux-image-.*cloud-amd64.*\.deb$/.test(f));
  }
  return join(KERNEL_DEBS, debs.sort().at(-1)!);
}

/** vmlinuz and the virtio modules, unpacked once per kernel package. */
function kernelParts(): { dir: string; release: string } {
  const deb = kernelDeb();
  const dir = join(WORK, `kernel-${sha256(Buffer.from(deb)).slice(0, 12)}`);
  buildOnce(dir, (tmp) => {
    const members = ["./boot/vmlinuz-*", ...MODULES.map((m) => `./lib/modules/*/${m}`)];
    sh("sh", ["-c", 'dpkg-deb --fsys-tarfile "$0" | tar -x --wildcards "$@"', deb, ...members], { cwd: tmp });
  });
  const release = readdirSync(join(dir, "lib", "modules"))[0]!;
  return { dir, release };
}

export interface FixtureImage {
  dir: string;
  kernelRelease: string;
}

let cached: FixtureImage | undefined;

export function fixtureImage(): FixtureImage {
  if (cached) return cached;
  const { dir: kdir, release } = kernelParts();
  const initSrc = readFileSync(INIT_SRC);
  const key = sha256(Buffer.concat([initSrc, Buffer.from(kdir), Buffer.from("v1")])).slice(0, 12);
  const dir = join(WORK, `image-${key}`);
  buildOnce(dir, (tmp) => {
    const root = join(tmp, "root");
    mkdirSync(join(root, "lib", "modules"), { recursive: true });
    mkdirSync(join(root, "kiln"), { recursive: true });
    sh("musl-gcc", ["-static", "-Os", "-s", "-o", join(root, "init"), INIT_SRC]);
    for (const m of MODULES) {
      const name = m.split("/").at(-1)!;
      writeFileSync(
        join(root, "lib", "modules", name),
        readFileSync(join(kdir, "lib", "modules", release, m)),
      );
    }
    const config = { v: 1, rc: [{ bin: "/bin/hello", argv: ["hello", "--baked"], mode: "main" }] };
    writeFileSync(join(root, "kiln", "image.json"), JSON.stringify(config));
    const list = sh("find", [".", "-mindepth", "1"], { cwd: root })
      .toString()
      .split("\n")
      .filter(Boolean)
      .sort();
    const initrd = sh("cpio", ["-o", "-H", "newc", "--quiet", "--reproducible"], {
      cwd: root,
      input: Buffer.from(`${list.join("\n")}\n`),
    });
    const kernel = readFileSync(join(kdir, "boot", `vmlinuz-${release}`));
    writeFileSync(join(tmp, "kernel"), kernel);
    writeFileSync(join(tmp, "initrd"), initrd);
    const init = readFileSync(join(root, "init"));
    const manifest = {
      v: 1,
      kiln: "fixture",
      name: "fixture",
      platform: "qemu",
      kernel: {
        file: "kernel",
        sha256: sha256(kernel),
        size: kernel.length,
        format: "bzimage",
        kind: "stock",
        release,
      },
      initrd: { file: "initrd", sha256: sha256(initrd), size: initrd.length, entries: list.length },
      cmdline: "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests=1",
      acpi: true,
      components: [
        { name: "virtio.net", how: "module" },
        { name: "virtio.blk", how: "module" },
      ],
      modules: [],
      programs: [],
      files: [],
      init: { path: "/init", sha256: sha256(init), size: init.length, version: "fixture" },
      config,
    };
    writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(root, { recursive: true, force: true });
  });
  cached = { dir, kernelRelease: release };
  return cached;
}

/**
 * The fixture image under a path of its own (symlinks to the shared kernel and initrd), so that a test can
 * find exactly the QEMU processes it started in the process table.
 */
export function imageAt(parent: string, name = "image"): string {
  const src = fixtureImage().dir;
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ["kernel", "initrd"]) symlinkSync(join(src, f), join(dir, f));
  writeFileSync(join(dir, "manifest.json"), readFileSync(join(src, "manifest.json")));
  return dir;
}

/** Live processes (pid, argv) whose argv[0] is a QEMU and whose arguments mention `needle`. */
export function qemuProcesses(needle: string): { pid: number; argv: string[] }[] {
  const out: { pid: number; argv: string[] }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    if (argv[0]?.includes("qemu-system") && argv.some((a) => a.includes(needle)))
      out.push({ pid: Number(e), argv });
  }
  return out;
}
