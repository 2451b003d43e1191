/**
 * The stock kernel in use: `components/stock.json` in KILN_HOME names it, its store tree holds the files and
 * kiln's index (kernelIndex.ts). Fetching it is fetchKernel.ts (kept apart: resolution must load fast).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q } from "../core/errors.js";
import { kilnHome, paths } from "../core/paths.js";
import { openStore } from "../core/store.js";
import { DEFAULT_FLAVOUR, FLAVOURS, type KernelFlavour } from "./flavour.js";
import { KERNEL_INDEX_FILE, KERNEL_INDEX_FORMAT, type KernelIndex } from "./kernelIndex.js";

/** What `components/stock.json` records. */
export interface StockPointer {
  format: 1;
  package: string;
  version: string;
  release: string;
  /** The .deb's sha256: the store tree's key and the blob's name. */
  sha256: string;
}

export interface StockKernel {
  flavour: KernelFlavour;
  pointer: StockPointer;
  /** Absolute path of the unpacked tree's files. */
  root: string;
  index: KernelIndex;
}

/** The cloud flavour keeps the name it always had (stock.json); other flavours get stock-FLAVOUR.json. */
export function pointerPath(env?: NodeJS.ProcessEnv, flavour: KernelFlavour = DEFAULT_FLAVOUR): string {
  return join(paths.components(env), flavour === "cloud" ? "stock.json" : `stock-${flavour}.json`);
}

export async function readPointer(
  env?: NodeJS.ProcessEnv,
  flavour: KernelFlavour = DEFAULT_FLAVOUR,
): Promise<StockPointer | undefined> {
  try {
    const p = JSON.parse(await readFile(pointerPath(env, flavour), "utf8")) as StockPointer;
    return p.format === 1 ? p : undefined;
  } catch {
    return undefined;
  }
}

function missing(
  env: NodeJS.ProcessEnv | undefined,
  flavour: KernelFlavour,
  why = `no ${flavour} stock kernel has been fetched`,
): KilnError {
  return new KilnError(
    "KILN_ECOMPONENTS_MISSING",
    `Cannot use the ${flavour} stock kernel: ${why} (KILN_HOME ${q(kilnHome(env))})`,
    flavour === DEFAULT_FLAVOUR
      ? "Run `kiln components fetch` (it downloads Debian's cloud kernel, about 27 MB)."
      : `Run \`kiln components fetch --flavour ${flavour}\` (it downloads ${FLAVOURS[flavour].meta}'s kernel, about 70 MB).`,
    { details: { flavour } },
  );
}

/** The kernel in use, from the store. Throws KILN_ECOMPONENTS_MISSING when there is none. */
export async function loadStockKernel(
  env?: NodeJS.ProcessEnv,
  flavour: KernelFlavour = DEFAULT_FLAVOUR,
): Promise<StockKernel> {
  const pointer = await readPointer(env, flavour);
  if (!pointer) throw missing(env, flavour);
  const store = openStore(env);
  const root = store.treeRoot(pointer.sha256);
  let index: KernelIndex;
  try {
    index = JSON.parse(await readFile(join(root, KERNEL_INDEX_FILE), "utf8")) as KernelIndex;
  } catch {
    throw missing(env, flavour, `the store has no unpacked tree for ${pointer.package} ${pointer.version}`);
  }
  if (index.format !== KERNEL_INDEX_FORMAT)
    throw missing(env, flavour, "its index was made by another kiln version");
  return { flavour, pointer, root, index };
}

export interface StockKernelInfo {
  flavour: KernelFlavour;
  package: string;
  version: string;
  release: string;
  source?: string;
  sha256: string;
  debSize: number;
  vmlinuz: { path: string; sha256: string; size: number };
  modules: { count: number; size: number; compression: string[] };
  builtin: number;
  tree: string;
}

/** `kiln components show`: the kernel in use. */
export async function stockKernelInfo(
  env?: NodeJS.ProcessEnv,
  flavour: KernelFlavour = DEFAULT_FLAVOUR,
): Promise<StockKernelInfo> {
  const k = await loadStockKernel(env, flavour);
  const mods = Object.values(k.index.modules);
  return {
    flavour,
    package: k.index.package,
    version: k.index.version,
    release: k.index.release,
    ...(k.index.source ? { source: k.index.source } : {}),
    sha256: k.index.deb.sha256,
    debSize: k.index.deb.size,
    vmlinuz: { ...k.index.vmlinuz, path: join(k.root, k.index.vmlinuz.path) },
    modules: {
      count: mods.length,
      size: mods.reduce((n, m) => n + m.size, 0),
      compression: k.index.moduleCompression,
    },
    builtin: k.index.builtin.length,
    tree: k.root,
  };
}
