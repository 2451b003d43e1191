/**
 * The component catalogue and platforms: data/components.toml and data/platforms.toml, then the user's
 * `-c FILE`s in order (a definition replaces the one of the same name). Validated with zod; errors name
 * the file, the line where it can be found, and the key. The validated result is cached by the files'
 * content, so a bake does not pay for TOML parsing and zod on every run.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../core/atomic.js";
import { sha256 } from "../core/digest.js";
import { isKilnError, KilnError, q, usageError } from "../core/errors.js";
import { paths } from "../core/paths.js";
import { readUserFile } from "../core/userFile.js";
import { DEFAULT_FLAVOUR, type KernelFlavour } from "./flavour.js";

export interface Component {
  name: string;
  description: string;
  kconfig: string[];
  kconfigExtra: string[];
  modules: string[];
  /** The file that defined it. */
  source: string;
}

/**
 * A program a platform brings into every image made for it (a host's own services, like Xen's toolstack
 * in dom0): a Debian package's binary with its shared-library closure, run by kiln-init before the image's
 * own programs (`mode`), or only installed (`mode` "none", a tool such as xl).
 */
export interface PlatformProgram {
  deb: string;
  bin: string;
  args: string[];
  mode: "setup" | "bg" | "none";
  /** bg only: kiln-init waits for this path before it starts the next program. */
  ready?: string;
  /** Dependencies apt need not fetch: no file of theirs is needed (xen-utils' python3). */
  exclude: string[];
  /** Run-time files from the packages that ELF does not name (a library loaded with dlopen). */
  files: string[];
}

/** The hypervisor a platform boots under (its image then holds it, and launchers boot it first). */
export interface PlatformHypervisor {
  name: string;
  /** The Debian package it comes from, and the file in it. */
  package: string;
  file: string;
  /** Its own command line (the launcher adds what depends on the machine, like memory). */
  cmdline: string;
}

export interface Platform {
  name: string;
  description: string;
  include: string[];
  components: string[];
  /** The stock kernel flavour it needs (undefined: its includes', else cloud). */
  kernel?: KernelFlavour;
  hypervisor?: PlatformHypervisor;
  /** Kernel command line the platform's images need. */
  cmdline?: string;
  programs: PlatformProgram[];
  /** Directories and symbolic links its programs expect. */
  dirs: string[];
  links: Record<string, string>;
  /** Mounts kiln-init makes (boot configuration `blk` entries: pseudo file systems like xenfs). */
  mounts: { dev: string; fs: string; mount: string }[];
  /** The smallest memory its images boot in, in MiB (launchers default to it). */
  memory?: number;
  /**
   * What the platform adds to the image's main program: arguments before the program's own, and for a Xen
   * stub domain, libxl's device model arguments from xenstore after them (kiln-init's argv_xen_dm).
   */
  main?: { args: string[]; argvXenDm: boolean };
  /** Parameters its modules load with, by module name (underscores), as modprobe would pass them. */
  moduleParams: Record<string, string>;
  source: string;
}

export interface Catalogue {
  components: Map<string, Component>;
  platforms: Map<string, Platform>;
}

export interface CatalogueOptions {
  /** User catalogue files (`-c FILE`), applied in order over the built-in ones. */
  extraFiles?: string[];
  env?: NodeJS.ProcessEnv;
}

const CACHE_FORMAT = 2;

export const BUILTIN_CATALOGUE_FILES = [
  fileURLToPath(new URL("../../data/components.toml", import.meta.url)),
  fileURLToPath(new URL("../../data/platforms.toml", import.meta.url)),
];

/** Catalogues this process has read, by their files' names and contents (the cache file's key). */
const loaded = new Map<string, CachedCatalogue>();

export async function loadCatalogue(opts: CatalogueOptions = {}): Promise<Catalogue> {
  const files = [...BUILTIN_CATALOGUE_FILES, ...(opts.extraFiles ?? []).map((f) => resolve(f))];
  const texts = await Promise.all(
    files.map((f) =>
      readUserFile(f, "catalogue file", "utf8").catch((e: unknown) => {
        if (isKilnError(e)) throw e;
        throw usageError(
          "KILN_ECATALOGUE_NOT_FOUND",
          `Cannot read catalogue file ${q(f)}`,
          "Give the path of a TOML file with [components.NAME] and/or [platforms.NAME] tables.",
        );
      }),
    ),
  );
  const key = sha256(JSON.stringify([CACHE_FORMAT, files, texts]));
  // A bake resolves its platform more than once (its own programs, the kernel choice, the components).
  const seen = loaded.get(key);
  if (seen) return fromJSON(seen);
  const cacheFile = join(paths.cache(opts.env), "catalogue", `${key}.json`);
  try {
    const cached = JSON.parse(await readFile(cacheFile, "utf8")) as CachedCatalogue;
    loaded.set(key, cached);
    return fromJSON(cached);
  } catch {}
  const { parseCatalogueFiles } = await import("./catalogueSchema.js");
  const cat = await parseCatalogueFiles(files.map((f, i) => ({ path: f, text: texts[i]! })));
  // A cache that cannot be written (read-only home) only costs time.
  await writeFileAtomic(cacheFile, JSON.stringify(toJSON(cat))).catch(() => {});
  return cat;
}

interface CachedCatalogue {
  components: Component[];
  platforms: Platform[];
}

function toJSON(c: Catalogue): CachedCatalogue {
  return { components: [...c.components.values()], platforms: [...c.platforms.values()] };
}

function fromJSON(j: CachedCatalogue): Catalogue {
  return {
    components: new Map(j.components.map((c) => [c.name, c])),
    platforms: new Map(j.platforms.map((p) => [p.name, p])),
  };
}

/** A platform's components, its includes' first (depth first), each once. */
export function expandPlatform(cat: Catalogue, name: string): string[] {
  const platform = cat.platforms.get(name);
  if (!platform) {
    throw usageError(
      "KILN_EPLATFORM_UNKNOWN",
      `Unknown platform ${q(name)}`,
      `Known platforms: ${[...cat.platforms.keys()].sort().join(", ")}. Define others in a catalogue file given with -c.`,
    );
  }
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (p: Platform, path: string[]) => {
    for (const inc of p.include) {
      // Validation refuses cycles and unknown includes; this guard keeps a bad cache from looping.
      if (path.includes(inc))
        throw new KilnError(
          "KILN_ECATALOGUE_INVALID",
          `Platform ${q(p.name)} includes itself`,
          "Fix the include list.",
        );
      visit(cat.platforms.get(inc)!, [...path, inc]);
    }
    for (const c of p.components) {
      if (!seen.has(c)) {
        seen.add(c);
        out.push(c);
      }
    }
  };
  visit(platform, [name]);
  return out;
}

/** The kernel flavour a platform needs: its own, else the first include's that says, else cloud. */
export function platformFlavour(cat: Catalogue, name: string): KernelFlavour {
  const visit = (p: Platform | undefined): KernelFlavour | undefined => {
    if (!p) return undefined;
    if (p.kernel) return p.kernel;
    for (const inc of p.include) {
      const f = visit(cat.platforms.get(inc));
      if (f) return f;
    }
    return undefined;
  };
  return visit(cat.platforms.get(name)) ?? DEFAULT_FLAVOUR;
}

export function getComponent(cat: Catalogue, name: string): Component {
  const c = cat.components.get(name);
  if (!c) {
    throw usageError(
      "KILN_ECOMPONENT_UNKNOWN",
      `Unknown component ${q(name)}`,
      `Run \`kiln components list\` to see the ${cat.components.size} known components, or define it in a catalogue file given with -c.`,
    );
  }
  return c;
}
