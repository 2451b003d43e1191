/**
 * Fetching the stock kernel: Debian's cloud kernel package, found and downloaded with apt (or imported from a
 * .deb), verified against the SHA256 apt's signed index gives, unpacked into a store tree keyed by the
 * package's digest, indexed (kernelIndex.ts), and made the kernel in use (stockKernel.ts).
 */
import { copyFile, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { readDebControl, unpackDeb } from "../core/debPackage.js";
import { sha256File } from "../core/digest.js";
import { isKilnError, KilnError, q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { openStore, type Store } from "../core/store.js";
import { notAFile } from "../core/userFile.js";
import { type AptPackage, aptDownload, aptKernelPackage, aptRecord } from "./apt.js";
import { DEFAULT_FLAVOUR, FLAVOURS, flavourOfPackage, type KernelFlavour } from "./flavour.js";
import { buildKernelIndex, KERNEL_INDEX_FILE, KERNEL_INDEX_FORMAT, type KernelIndex } from "./kernelIndex.js";
import { loadStockKernel, pointerPath, readPointer, type StockPointer } from "./stockKernel.js";

export interface FetchResult {
  flavour: KernelFlavour;
  fetched: boolean;
  package: string;
  version: string;
  release: string;
  sha256: string;
  /** Where the expected digest came from: apt's signed index, or the file itself (unknown to apt). */
  digestFrom: "apt" | "file";
  debSize: number;
  vmlinuzSize: number;
  modules: number;
  moduleCompression: string[];
  ms: { download: number; unpack: number; total: number };
}

export interface FetchOptions {
  env?: NodeJS.ProcessEnv;
  force?: boolean;
  /** Import this .deb instead of asking apt. */
  deb?: string;
  /** Which of Debian's kernels (default cloud); with --deb, taken from the package's name when not given. */
  flavour?: KernelFlavour;
  progress?: Progress;
}

export async function fetchStockKernel(opts: FetchOptions = {}): Promise<FetchResult> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  const store = openStore(env);
  const t0 = performance.now();
  if (opts.deb) return importDeb(store, opts.deb, opts, t0);

  const flavour = opts.flavour ?? DEFAULT_FLAVOUR;
  const meta = FLAVOURS[flavour].meta;
  progress.step(`asking apt for ${meta}`);
  const pkg = await aptKernelPackage(meta, env);
  progress.done(`${meta} is ${pkg.name} ${pkg.version}`);
  const current = await readPointer(env, flavour);
  if (!opts.force && current?.sha256 === pkg.sha256) {
    const have = await loadStockKernel(env, flavour).catch(() => undefined);
    if (have)
      return summary(have.index, flavour, false, "apt", {
        download: 0,
        unpack: 0,
        total: performance.now() - t0,
      });
  }
  return store.withTmpDir(async (dir) => {
    progress.step(`downloading ${pkg.name} ${pkg.version} (${(pkg.size / 1e6).toFixed(1)} MB)`);
    const td = performance.now();
    const file = await aptDownload(pkg, dir, env);
    const download = performance.now() - td;
    progress.done(`downloaded ${basename(file)}`);
    return install(store, file, pkg, "apt", flavour, opts, { download, t0 });
  });
}

async function importDeb(store: Store, deb: string, opts: FetchOptions, t0: number): Promise<FetchResult> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  const notFound = () =>
    usageError(
      "KILN_EDEB_NOT_FOUND",
      `Cannot read package ${q(deb)}: no such file`,
      "Give the path of a .deb file.",
    );
  const st = await stat(deb).catch((e: unknown) => {
    throw missingOr(e, deb, "read package", notFound);
  });
  if (st.isDirectory()) throw notFound();
  if (!st.isFile()) throw notAFile(deb, "package", st);
  return store.withTmpDir(async (dir) => {
    // Work on a private copy: the digest checked is then the digest of the bytes unpacked and stored.
    const file = join(dir, "package.deb");
    await copyFile(deb, file);
    progress.step(`reading ${basename(deb)}`);
    const control = await readDebControl(file).catch((e: unknown) => {
      // Name the user's file, not our private copy.
      if (isKilnError(e))
        throw new KilnError(e.code, e.message.split(file).join(deb), e.hint, { kind: e.kind });
      throw e;
    });
    const known = await aptRecord(control.package, control.version, env).catch((e) => {
      if (isKilnError(e) && e.code === "KILN_ETOOL_MISSING") return undefined; // not a Debian host
      throw e;
    });
    progress.done(
      `${basename(deb)} is ${control.package} ${control.version}${known ? " (known to apt)" : ""}`,
    );
    const size = (await stat(file)).size;
    const pkg: AptPackage = known ?? {
      name: control.package,
      version: control.version,
      sha256: await sha256File(file),
      size,
      ...(control.source ? { source: control.source } : {}),
    };
    const flavour = opts.flavour ?? flavourOfPackage(pkg.name);
    return install(store, file, pkg, known ? "apt" : "file", flavour, opts, { download: 0, t0 });
  });
}

async function install(
  store: Store,
  file: string,
  pkg: AptPackage,
  digestFrom: "apt" | "file",
  flavour: KernelFlavour,
  opts: FetchOptions,
  t: { download: number; t0: number },
): Promise<FetchResult> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  progress.step("checking the package's sha256");
  const sha = await sha256File(file);
  if (sha !== pkg.sha256) {
    progress.fail();
    throw new KilnError(
      "KILN_EDIGEST",
      `Digest mismatch for ${q(`${pkg.name} ${pkg.version}`)}: apt's index says sha256 ${pkg.sha256}, the file is ${sha}`,
      "The package is corrupt or not the one apt knows; download it again (`kiln components fetch --force`). Nothing was stored.",
      { details: { expected: pkg.sha256, actual: sha } },
    );
  }
  progress.done();
  const size = (await stat(file)).size;
  progress.step(`unpacking ${pkg.name} into the store`);
  const tu = performance.now();
  const existing = opts.force ? undefined : await readIndex(store, sha);
  // Rebuild a tree that is there but unreadable or from another index format; otherwise a concurrent
  // fetch that built it first wins and we use its tree.
  const replace = opts.force === true || (!existing && (await store.hasTree(sha)));
  const index =
    existing ??
    (await (async () => {
      let built: KernelIndex | undefined;
      await store.putTree(
        sha,
        async (root) => {
          const files = await unpackDeb(file, root, { select: keepForKernel, inflate: inflateModule });
          built = await buildKernelIndex(
            root,
            {
              package: pkg.name,
              version: pkg.version,
              ...(pkg.source ? { source: pkg.source } : {}),
              deb: { sha256: sha, size },
            },
            files,
          );
          await writeFileAtomic(join(root, KERNEL_INDEX_FILE), `${JSON.stringify(built)}\n`);
        },
        { replace },
      );
      return built ?? (await readIndex(store, sha))!;
    })());
  const unpack = performance.now() - tu;
  progress.done(`unpacked ${index.release}: ${Object.keys(index.modules).length} modules`);
  await store.put(file, sha);
  const pointer: StockPointer = {
    format: 1,
    package: index.package,
    version: index.version,
    release: index.release,
    sha256: sha,
  };
  await writeFileAtomic(pointerPath(env, flavour), `${JSON.stringify(pointer, null, 2)}\n`);
  return summary(index, flavour, true, digestFrom, {
    download: t.download,
    unpack,
    total: performance.now() - t.t0,
  });
}

async function readIndex(store: Store, key: string): Promise<KernelIndex | undefined> {
  try {
    const index = JSON.parse(
      await readFile(join(store.treeRoot(key), KERNEL_INDEX_FILE), "utf8"),
    ) as KernelIndex;
    return index.format === KERNEL_INDEX_FORMAT ? index : undefined;
  } catch {
    return undefined;
  }
}

function summary(
  index: KernelIndex,
  flavour: KernelFlavour,
  fetched: boolean,
  digestFrom: "apt" | "file",
  ms: FetchResult["ms"],
): FetchResult {
  const round = (n: number) => Math.round(n);
  return {
    flavour,
    fetched,
    package: index.package,
    version: index.version,
    release: index.release,
    sha256: index.deb.sha256,
    digestFrom,
    debSize: index.deb.size,
    vmlinuzSize: index.vmlinuz.size,
    modules: Object.keys(index.modules).length,
    moduleCompression: index.moduleCompression,
    ms: { download: round(ms.download), unpack: round(ms.unpack), total: round(ms.total) },
  };
}

/**
 * Keep only what kiln uses: the kernel, its configuration (and System.map), and the module tree. Merged-/usr
 * packages put modules under usr/lib/modules; they are stored under lib/modules, where depmod -b looks.
 */
export function keepForKernel(path: string): string | undefined {
  if (/^boot\/(vmlinuz|config|System\.map)-[^/]+$/.test(path)) return path;
  // The package's licence statement, for the SBOM and the licence texts a distributor must ship.
  if (/^usr\/share\/doc\/[^/]+\/copyright$/.test(path)) return path;
  const p = path.startsWith("usr/lib/modules/") ? path.slice(4) : path;
  if (/^lib\/modules\/[^/]+(\/|$)/.test(p)) return p;
  return undefined;
}

/** Compressed modules (.ko.xz/.ko.zst/.ko.gz) are stored as plain .ko, for finit_module without flags. */
export function inflateModule(path: string): "xz" | "zst" | "gz" | undefined {
  const m = /\.ko\.(xz|zst|gz)$/.exec(path);
  return m ? (m[1] as "xz" | "zst" | "gz") : undefined;
}
