/**
 * Resolving a platform (a set of components) against the stock kernel in the store: which components are
 * built in, which need modules, the modules in load order, and the Kconfig symbols of the whole set (for a
 * specialized kernel). Before answering, the kernel and each module used are checked against their
 * recorded digests, so a damaged store is found at bake time rather than at boot.
 */
import { join } from "node:path";
import { fileDigest } from "../core/digestCache.js";
import { KilnError, q } from "../core/errors.js";
import {
  type Catalogue,
  type Component,
  expandPlatform,
  getComponent,
  loadCatalogue,
  type Platform,
  platformFlavour,
} from "./catalogue.js";
import { DEFAULT_FLAVOUR, type KernelFlavour } from "./flavour.js";
import { type KernelIndex, moduleName } from "./kernelIndex.js";
import { loadOrder } from "./moduleOrder.js";
import { loadStockKernel } from "./stockKernel.js";

export type How = "builtin" | "module" | "unavailable";

/** What a platform brings besides components: hypervisor, its own programs, files, mounts, defaults. */
export type PlatformExtras = Pick<
  Platform,
  "hypervisor" | "cmdline" | "programs" | "dirs" | "links" | "mounts" | "memory" | "main" | "moduleParams"
>;

export interface ResolvedPlatform {
  platform: string;
  /** The stock kernel flavour the platform needs (also for a specialized bake: what stock would be). */
  flavour: KernelFlavour;
  extras: PlatformExtras;
  /** The stock kernel. Empty strings with `kernel: "specialized"`, which needs no stock kernel. */
  kernel: {
    release: string;
    package: string;
    version: string;
    vmlinuz: string /* abs path in store */;
    sha256: string;
  };
  components: { name: string; how: "builtin" | "module"; modules: string[] }[];
  /** Dependency (load) order, each module once. */
  modules: {
    name: string;
    path: string /* abs path in store */;
    relPath: string /* lib/modules/<rel>/kernel/... */;
    sha256: string;
    size: number;
    /** Every module it needs (names). */
    deps: string[];
  }[];
  /** All symbols of the set, sorted, for a specialized kernel. */
  kconfig: string[];
}

export interface ResolveOptions {
  extraFiles?: string[];
  /** Components added to the platform's set. */
  components?: string[];
  env?: NodeJS.ProcessEnv;
  /** "specialized": only the Kconfig symbols matter; every component counts as built in. */
  kernel?: "stock" | "specialized";
}

export interface ComponentStatus {
  name: string;
  description: string;
  how: How;
  /** The component's modules that are loadable (to load, with their dependencies). */
  modules: string[];
  /** The component's modules compiled into this kernel. */
  builtinModules: string[];
  /** What the kernel lacks: module names, or CONFIG_ symbols that are not =y. */
  missing: string[];
  /** Each symbol and its value in the stock kernel (absent when no kernel has been fetched). */
  kconfig: { symbol: string; stock?: "y" | "m" | "n" }[];
  kconfigExtra: string[];
}

export type UnresolvedComponent = Omit<ComponentStatus, "how"> & { how: "unknown" };

/** A component described without a kernel to resolve it on. */
function unresolved(c: Component): UnresolvedComponent {
  return {
    name: c.name,
    description: c.description,
    how: "unknown",
    modules: c.modules.map(moduleName),
    builtinModules: [],
    missing: [],
    kconfig: c.kconfig.map((symbol) => ({ symbol })),
    kconfigExtra: c.kconfigExtra,
  };
}

/** How a component resolves on one kernel. */
export function componentStatus(c: Component, k: KernelIndex, builtin: ReadonlySet<string>): ComponentStatus {
  const kconfig = c.kconfig.map((symbol) => ({ symbol, stock: k.kconfig[symbol] ?? ("n" as const) }));
  const modules: string[] = [];
  const builtinModules: string[] = [];
  const missing: string[] = [];
  if (c.modules.length > 0) {
    for (const raw of c.modules) {
      const m = moduleName(raw);
      if (k.modules[m]) modules.push(m);
      else if (builtin.has(m)) builtinModules.push(m);
      else missing.push(m);
    }
  } else {
    for (const s of kconfig)
      if (s.stock !== "y") missing.push(`CONFIG_${s.symbol}${s.stock === "m" ? "=m" : ""}`);
  }
  const how: How = missing.length > 0 ? "unavailable" : modules.length > 0 ? "module" : "builtin";
  return {
    name: c.name,
    description: c.description,
    how,
    modules,
    builtinModules,
    missing,
    kconfig,
    kconfigExtra: c.kconfigExtra,
  };
}

function componentNames(cat: Catalogue, platform: string, extra: readonly string[] = []): string[] {
  const names = expandPlatform(cat, platform);
  for (const c of extra) {
    getComponent(cat, c);
    if (!names.includes(c)) names.push(c);
  }
  return names;
}

function kconfigOf(components: readonly Component[]): string[] {
  return [...new Set(components.flatMap((c) => [...c.kconfig, ...c.kconfigExtra]))].sort();
}

export async function resolvePlatform(name: string, opts: ResolveOptions = {}): Promise<ResolvedPlatform> {
  const env = opts.env ?? process.env;
  const cat = await loadCatalogue({ extraFiles: opts.extraFiles, env });
  const components = componentNames(cat, name, opts.components).map((c) => getComponent(cat, c));
  const kconfig = kconfigOf(components);
  const flavour = platformFlavour(cat, name);
  const extras = extrasOf(cat.platforms.get(name)!);
  if (opts.kernel === "specialized") {
    return {
      platform: name,
      flavour,
      extras,
      kernel: { release: "", package: "", version: "", vmlinuz: "", sha256: "" },
      components: components.map((c) => ({ name: c.name, how: "builtin", modules: [] })),
      modules: [],
      kconfig,
    };
  }
  const k = await loadStockKernel(env, flavour);
  const builtin = new Set(k.index.builtin);
  const statuses = components.map((c) => componentStatus(c, k.index, builtin));
  const bad = statuses.filter((s) => s.how === "unavailable");
  if (bad.length > 0) {
    const first = bad[0]!;
    throw new KilnError(
      "KILN_ECOMPONENT_UNAVAILABLE",
      `Component ${q(first.name)} is not in kernel ${q(k.index.release)}: neither built in nor a module (${first.missing.join(", ")})${
        bad.length > 1
          ? `; also unavailable: ${bad
              .slice(1)
              .map((b) => b.name)
              .join(", ")}`
          : ""
      }`,
      `Leave it out of the set, or bake with \`--kernel specialized\` to build a kernel that has it (\`kiln bake --describe ${name}\` shows each component).`,
      {
        details: {
          components: bad.map((b) => ({ name: b.name, missing: b.missing })),
          release: k.index.release,
        },
      },
    );
  }
  const order = loadOrder(
    k.index.modules,
    statuses.flatMap((s) => s.modules),
  );
  const modules = order.map((m) => {
    const e = k.index.modules[m]!;
    return {
      name: m,
      path: join(k.root, e.path),
      relPath: e.path,
      sha256: e.sha256,
      size: e.size,
      deps: e.deps,
    };
  });
  const vmlinuz = join(k.root, k.index.vmlinuz.path);
  await Promise.all([
    checkFile(vmlinuz, k.index.vmlinuz.sha256, k.index.vmlinuz.size, env),
    ...modules.map((m) => checkFile(m.path, m.sha256, m.size, env)),
  ]);
  return {
    platform: name,
    flavour,
    extras,
    kernel: {
      release: k.index.release,
      package: k.index.package,
      version: k.index.version,
      vmlinuz,
      sha256: k.index.vmlinuz.sha256,
    },
    components: statuses.map((s) => ({
      name: s.name,
      how: s.how as "builtin" | "module",
      modules: s.modules,
    })),
    modules,
    kconfig,
  };
}

function extrasOf(p: Platform): PlatformExtras {
  return {
    ...(p.hypervisor ? { hypervisor: p.hypervisor } : {}),
    ...(p.cmdline ? { cmdline: p.cmdline } : {}),
    programs: p.programs ?? [],
    dirs: p.dirs ?? [],
    links: p.links ?? {},
    mounts: p.mounts ?? [],
    ...(p.memory ? { memory: p.memory } : {}),
    ...(p.main ? { main: p.main } : {}),
    moduleParams: p.moduleParams ?? {},
  };
}

/**
 * Checked through the digest cache: a file changed through the file system since it was hashed has a new
 * ctime (no user can set it back), so it is hashed again and caught; `kiln store verify` hashes every byte
 * regardless, for damage below the file system.
 */
async function checkFile(path: string, sha256: string, size: number, env: NodeJS.ProcessEnv): Promise<void> {
  const got = await fileDigest(path, { env }).catch((e: NodeJS.ErrnoException) => e);
  if (got instanceof Error) throw corrupt(path, `cannot be read (${got.code ?? got.message})`);
  if (got.size !== size) throw corrupt(path, `has ${got.size} bytes, the index says ${size}`);
  if (got.sha256 !== sha256) throw corrupt(path, `has sha256 ${got.sha256}, the index says ${sha256}`);
}

function corrupt(path: string, why: string): KilnError {
  return new KilnError(
    "KILN_ESTORE_CORRUPT",
    `The store is damaged: ${q(path)} ${why}`,
    "Fetch the kernel again with `kiln components fetch --force`.",
    { details: { path } },
  );
}

export interface PlatformSummary {
  name: string;
  description: string;
  include: string[];
  flavour: KernelFlavour;
  /** Every component, includes' first. */
  components: string[];
}

/** `kiln bake --list`: the platforms, no kernel needed. */
export async function listPlatforms(
  opts: { extraFiles?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<PlatformSummary[]> {
  const cat = await loadCatalogue(opts);
  return [...cat.platforms.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((p) => ({
      name: p.name,
      description: p.description,
      include: p.include,
      flavour: platformFlavour(cat, p.name),
      components: expandPlatform(cat, p.name),
    }));
}

export interface KernelSummary {
  release: string;
  package: string;
  version: string;
}

export interface PlatformDescription {
  platform: string;
  description: string;
  include: string[];
  flavour: KernelFlavour;
  hypervisor?: { name: string; package: string };
  /** The stock kernel components were resolved on; null when none has been fetched. */
  kernel: KernelSummary | null;
  components: (ComponentStatus | UnresolvedComponent)[];
  /** Modules a stock bake would load, in order, with what each needs; empty without a kernel. */
  modules: { name: string; deps: string[]; size: number }[];
  /** Every symbol of the set, for a specialized kernel. */
  kconfig: string[];
}

/** `kiln bake --describe PLATFORM`: each component's resolution on the kernel in use (or "unknown"). */
export async function describePlatform(
  name: string,
  opts: { extraFiles?: string[]; components?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<PlatformDescription> {
  const cat = await loadCatalogue(opts);
  const components = componentNames(cat, name, opts.components).map((c) => getComponent(cat, c));
  const p = cat.platforms.get(name)!;
  const flavour = platformFlavour(cat, name);
  const k = await loadStockKernel(opts.env, flavour).catch((e) => {
    if (e instanceof KilnError && e.code === "KILN_ECOMPONENTS_MISSING") return undefined;
    throw e;
  });
  const base = {
    platform: name,
    description: p.description,
    include: p.include,
    flavour,
    ...(p.hypervisor ? { hypervisor: { name: p.hypervisor.name, package: p.hypervisor.package } } : {}),
    kconfig: kconfigOf(components),
  };
  if (!k) {
    return {
      ...base,
      kernel: null,
      components: components.map(unresolved),
      modules: [],
    };
  }
  const builtin = new Set(k.index.builtin);
  const statuses = components.map((c) => componentStatus(c, k.index, builtin));
  const order = loadOrder(
    k.index.modules,
    statuses.filter((s) => s.how === "module").flatMap((s) => s.modules),
  );
  return {
    ...base,
    kernel: { release: k.index.release, package: k.index.package, version: k.index.version },
    components: statuses,
    modules: order.map((m) => ({ name: m, deps: k.index.modules[m]!.deps, size: k.index.modules[m]!.size })),
  };
}

export interface ComponentList {
  flavour: KernelFlavour;
  kernel: KernelSummary | null;
  components: (ComponentStatus | UnresolvedComponent)[];
}

/** `kiln components list`: every component and how it resolves on the fetched kernel. */
export async function listComponents(
  opts: { extraFiles?: string[]; env?: NodeJS.ProcessEnv; flavour?: KernelFlavour } = {},
): Promise<ComponentList> {
  const cat = await loadCatalogue(opts);
  const all = [...cat.components.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const flavour = opts.flavour ?? DEFAULT_FLAVOUR;
  const k = await loadStockKernel(opts.env, flavour).catch((e) => {
    if (e instanceof KilnError && e.code === "KILN_ECOMPONENTS_MISSING") return undefined;
    throw e;
  });
  if (!k) {
    return {
      flavour,
      kernel: null,
      components: all.map(unresolved),
    };
  }
  const builtin = new Set(k.index.builtin);
  return {
    flavour,
    kernel: { release: k.index.release, package: k.index.package, version: k.index.version },
    components: all.map((c) => componentStatus(c, k.index, builtin)),
  };
}
