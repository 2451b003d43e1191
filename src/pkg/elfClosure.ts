/**
 * The shared-library closure of programs inside a RootView, found the way glibc's dynamic loader finds
 * libraries (ld.so(8)): PT_INTERP; then for each DT_NEEDED without a '/': DT_RPATH of the object (when it
 * has no DT_RUNPATH) and of the executable, DT_RUNPATH of the object, then the default directories of
 * Debian's loader (multiarch first). $ORIGIN, $LIB and $PLATFORM are expanded. A candidate of another ELF
 * class or machine is skipped, as the loader does. Every name that cannot be found is collected, with who
 * needs it, instead of stopping at the first.
 */
import { posix } from "node:path";
import { type ElfInfo, readElf } from "../core/elf.js";
import type { Lookup, RootView, ViewFile } from "./rootView.js";

/** Debian's glibc searches these when no cache names the library (there is no ld.so.cache in an image). */
export const DEFAULT_LIB_DIRS: readonly string[] = [
  "/lib/x86_64-linux-gnu",
  "/usr/lib/x86_64-linux-gnu",
  "/lib64",
  "/usr/lib64",
  "/lib",
  "/usr/lib",
];

export interface ClosureObject {
  /** Resolved path in the view. */
  path: string;
  file: ViewFile;
  elf: ElfInfo;
}

export interface Closure {
  /** Every ELF object loaded (programs, the interpreter, libraries), by resolved path. */
  objects: Map<string, ClosureObject>;
  /** Symlinks that lookups went through (they must exist in the image too), by path. */
  links: Map<string, ViewFile>;
  /** How each DT_NEEDED was found: object path → name → resolved library path. */
  edges: Map<string, Map<string, string>>;
  missing: { name: string; neededBy: string; searched: string[] }[];
}

export async function elfClosure(view: RootView, starts: readonly string[]): Promise<Closure> {
  const c: Closure = { objects: new Map(), links: new Map(), edges: new Map(), missing: [] };
  const keep = (l: Lookup) => {
    for (const k of l.links) c.links.set(k.path, k.file);
  };
  const elfOf = new Map<string, ElfInfo | null>();
  const readObj = async (path: string, file: ViewFile): Promise<ElfInfo | null> => {
    if (!elfOf.has(path)) elfOf.set(path, await readElf(file.host, path).catch(() => null));
    return elfOf.get(path)!;
  };
  const queue: { path: string; exe: ClosureObject | undefined }[] = [];
  const add = async (l: Lookup, exe: ClosureObject | undefined): Promise<ClosureObject | undefined> => {
    keep(l);
    if (!l.file) return undefined;
    const seen = c.objects.get(l.path);
    if (seen) return seen;
    const elf = await readObj(l.path, l.file);
    if (!elf) return undefined;
    const o = { path: l.path, file: l.file, elf };
    c.objects.set(l.path, o);
    queue.push({ path: l.path, exe: exe ?? o });
    return o;
  };
  for (const s of starts) {
    const l = view.lookup(s);
    if (l?.file) await add(l, undefined);
  }
  while (queue.length) {
    const { path, exe } = queue.shift()!;
    const o = c.objects.get(path)!;
    if (o.elf.interp) {
      const l = view.lookup(o.elf.interp);
      if (!l?.file) c.missing.push({ name: o.elf.interp, neededBy: path, searched: [o.elf.interp] });
      else await add(l, exe);
    }
    const edges = new Map<string, string>();
    c.edges.set(path, edges);
    for (const name of o.elf.needed) {
      const dirs = searchDirs(o, exe);
      const tried: string[] = [];
      let found: string | undefined;
      if (name.includes("/")) {
        const l = view.lookup(name.startsWith("/") ? name : posix.join(posix.dirname(path), name));
        tried.push(name);
        if (l?.file && (await compatible(l, o, readObj))) {
          await add(l, exe);
          found = l.path;
        }
      } else {
        for (const d of dirs) {
          const candidate = posix.join(d, name);
          tried.push(candidate);
          const l = view.lookup(candidate);
          if (l?.file && (await compatible(l, o, readObj))) {
            await add(l, exe);
            found = l.path;
            break;
          }
        }
      }
      if (found) edges.set(name, found);
      else c.missing.push({ name, neededBy: path, searched: tried });
    }
  }
  return c;
}

function searchDirs(o: ClosureObject, exe: ClosureObject | undefined): string[] {
  const expand = (entries: readonly string[], of: ClosureObject) =>
    entries.flatMap((e) =>
      e
        .split(":")
        .filter(Boolean)
        .map((d) =>
          d
            .replace(/\$(\{ORIGIN\}|ORIGIN)/g, posix.dirname(of.path))
            .replace(/\$(\{LIB\}|LIB)/g, "lib/x86_64-linux-gnu")
            .replace(/\$(\{PLATFORM\}|PLATFORM)/g, "x86_64"),
        ),
    );
  const dirs: string[] = [];
  if (o.elf.runpath.length === 0) {
    dirs.push(...expand(o.elf.rpath, o));
    if (exe && exe !== o && exe.elf.runpath.length === 0) dirs.push(...expand(exe.elf.rpath, exe));
  }
  dirs.push(...expand(o.elf.runpath, o), ...DEFAULT_LIB_DIRS);
  return [...new Set(dirs.map((d) => posix.normalize(d)))];
}

async function compatible(
  l: Lookup,
  o: ClosureObject,
  read: (p: string, f: ViewFile) => Promise<ElfInfo | null>,
): Promise<boolean> {
  const e = await read(l.path, l.file!);
  return e !== null && e.class === o.elf.class && e.machine === o.elf.machine;
}
