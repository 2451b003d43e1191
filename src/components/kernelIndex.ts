/**
 * The index kiln keeps beside an unpacked kernel package (`kiln-kernel.json` in its store tree): what the
 * kernel has built in (Kconfig `=y`, modules.builtin), its modules with their dependencies (modules.dep,
 * made by kmod's `depmod`), and the digests resolution checks. It is small enough to read on every bake.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Compression } from "../core/decompress.js";
import { KilnError, q } from "../core/errors.js";
import { exec, which } from "../core/exec.js";
import type { ExtractedFile } from "../core/safeTar.js";

export const KERNEL_INDEX_FILE = "kiln-kernel.json";
export const KERNEL_INDEX_FORMAT = 1;

export interface KernelFileRef {
  /** Relative to the tree root. */
  path: string;
  sha256: string;
  size: number;
}

export interface KernelModule extends KernelFileRef {
  /** Every module it needs (module names), in modules.dep order: load them in reverse. */
  deps: string[];
}

export interface KernelIndex {
  format: typeof KERNEL_INDEX_FORMAT;
  release: string;
  package: string;
  version: string;
  source?: string;
  deb: { sha256: string; size: number };
  vmlinuz: KernelFileRef;
  config: KernelFileRef;
  /** How the package shipped its modules (["none"] for Debian 12); kiln always stores them uncompressed. */
  moduleCompression: Compression[];
  /** Kconfig symbols (without CONFIG_) set to y or m. */
  kconfig: Record<string, "y" | "m">;
  /** Modules compiled into the kernel (names from modules.builtin). */
  builtin: string[];
  /** Loadable modules by name. */
  modules: Record<string, KernelModule>;
}

/** The kernel's canonical module name: file name without .ko, '-' read as '_'. */
export function moduleName(fileOrName: string): string {
  const base = fileOrName.slice(fileOrName.lastIndexOf("/") + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");
}

export function parseKconfig(text: string): Record<string, "y" | "m"> {
  const out: Record<string, "y" | "m"> = {};
  for (const m of text.matchAll(/^CONFIG_([A-Za-z0-9_]+)=([ym])$/gm)) out[m[1]!] = m[2] as "y" | "m";
  return out;
}

/** modules.dep lines `kernel/a/x.ko: kernel/b/y.ko ...` → relative path → its dependencies' paths. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    out.set(
      line.slice(0, i),
      line
        .slice(i + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  return out;
}

async function depmodPath(): Promise<string> {
  // depmod lives in /usr/sbin, which is not on an ordinary user's PATH on Debian.
  const found = await which("depmod", `${process.env.PATH ?? ""}:/usr/sbin:/sbin`);
  if (!found) {
    throw new KilnError(
      "KILN_ETOOL_MISSING",
      `Cannot run ${q("depmod")}: not found`,
      "Install kmod (Debian: apt-get install kmod).",
    );
  }
  return found;
}

export interface PackageInfo {
  package: string;
  version: string;
  source?: string;
  deb: { sha256: string; size: number };
}

/**
 * Index an unpacked kernel package at `root` (boot/ and lib/modules/<release>/): runs depmod there, and
 * takes file digests from the extraction (`files`), which hashed them on the way in.
 */
export async function buildKernelIndex(
  root: string,
  pkg: PackageInfo,
  files: ExtractedFile[],
): Promise<KernelIndex> {
  const byPath = new Map(files.filter((f) => f.sha256).map((f) => [f.path, f]));
  const kernels = files.filter((f) => /^boot\/vmlinuz-[^/]+$/.test(f.path));
  if (kernels.length !== 1) {
    throw new KilnError(
      "KILN_EKERNEL_PACKAGE_INVALID",
      `Package ${q(pkg.package)} ${q(pkg.version)} is not a kernel package: it has ${kernels.length} boot/vmlinuz-* files`,
      "Give a Debian linux-image-* package (kiln components fetch finds the right one).",
    );
  }
  const vmlinuz = kernels[0]!;
  const release = vmlinuz.path.slice("boot/vmlinuz-".length);
  const ref = (path: string, what: string): KernelFileRef => {
    const f = byPath.get(path);
    if (!f?.sha256) {
      throw new KilnError(
        "KILN_EKERNEL_PACKAGE_INVALID",
        `Kernel package ${q(pkg.package)} has no ${what} ${q(path)}`,
        "Give a complete Debian linux-image-* package.",
      );
    }
    return { path, sha256: f.sha256, size: f.size };
  };
  const config = ref(`boot/config-${release}`, "kernel configuration");
  const modDir = `lib/modules/${release}`;
  const compressions = new Set(
    files
      .filter((f) => f.path.startsWith(`${modDir}/`) && f.path.endsWith(".ko"))
      .map((f) => f.inflated ?? "none"),
  );

  await exec(await depmodPath(), ["-b", root, release]);
  const [configText, depText, builtinText] = await Promise.all([
    readFile(join(root, config.path), "utf8"),
    readFile(join(root, modDir, "modules.dep"), "utf8"),
    readFile(join(root, modDir, "modules.builtin"), "utf8").catch(() => ""),
  ]);
  const modules: Record<string, KernelModule> = {};
  const dep = parseModulesDep(depText);
  for (const [rel, deps] of [...dep.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const f = ref(`${modDir}/${rel}`, "module");
    modules[moduleName(rel)] = { ...f, deps: deps.map(moduleName) };
  }
  const builtin = [...new Set(builtinText.split("\n").filter(Boolean).map(moduleName))].sort();
  return {
    format: KERNEL_INDEX_FORMAT,
    release,
    package: pkg.package,
    version: pkg.version,
    ...(pkg.source ? { source: pkg.source } : {}),
    deb: pkg.deb,
    vmlinuz: ref(vmlinuz.path, "kernel"),
    config,
    moduleCompression: [...compressions].sort(),
    kconfig: parseKconfig(configText),
    builtin,
    modules,
  };
}
