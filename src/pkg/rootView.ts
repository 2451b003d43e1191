/**
 * Several unpacked package trees seen as one root filesystem, the way they would be after installation:
 * a path is looked up component by component, following symlinks (across packages too) inside the view,
 * never on the host. Built from the store's tree indexes, so no directory walk is needed.
 */
import { join, posix } from "node:path";
import type { TreeIndex } from "../core/store.js";

export interface ViewFile {
  type: "file" | "symlink";
  /** Host path of the file (or of the symlink, in its unpacked tree). */
  host: string;
  /** The package that ships it. */
  pkg: string;
  mode: number;
  /** Symlinks: the target, relative to the link's directory. */
  target?: string;
}

export interface Lookup {
  /** The path after every symlink was followed. */
  path: string;
  file?: ViewFile;
  isDir: boolean;
  /** Symlinks followed on the way, in order: each must exist in an image for the path to work there. */
  links: { path: string; file: ViewFile }[];
}

const MAX_LINKS = 40;

export class RootView {
  readonly files = new Map<string, ViewFile>();
  readonly dirs = new Set<string>(["/"]);

  /** Add a package's tree; a path two packages ship stays with the first one (Debian forbids clashes). */
  add(pkg: string, root: string, index: TreeIndex): void {
    for (const f of index.files) {
      const p = `/${f.path}`;
      if (!this.files.has(p)) {
        this.files.set(p, {
          type: f.type,
          host: join(root, ...f.path.split("/")),
          pkg,
          mode: f.mode,
          ...(f.target !== undefined ? { target: f.target } : {}),
        });
      }
      for (let d = posix.dirname(p); d !== "/" && !this.dirs.has(d); d = posix.dirname(d)) this.dirs.add(d);
    }
  }

  /** Resolve `path` (absolute) through symlinks; undefined when it does not exist in the view. */
  lookup(path: string): Lookup | undefined {
    const links: Lookup["links"] = [];
    let rest = path.split("/").filter((c) => c !== "" && c !== ".");
    let cur = "/";
    let hops = 0;
    while (rest.length) {
      const comp = rest.shift()!;
      if (comp === "..") {
        cur = posix.dirname(cur);
        continue;
      }
      const next = posix.join(cur, comp);
      const f = this.files.get(next);
      if (f?.type === "symlink") {
        if (++hops > MAX_LINKS) return undefined;
        links.push({ path: next, file: f });
        const to = posix.resolve(cur, f.target ?? "");
        rest = [...to.split("/").filter((c) => c !== "" && c !== "."), ...rest];
        cur = "/";
        continue;
      }
      if (f) {
        if (rest.length) return undefined; // a file used as a directory
        return { path: next, file: f, isDir: false, links };
      }
      if (!this.dirs.has(next)) return undefined;
      cur = next;
    }
    return { path: cur, isDir: true, links };
  }

  /** Every file and symlink at or under the directory `dir` (a resolved path), sorted. */
  under(dir: string): string[] {
    const prefix = dir === "/" ? "/" : `${dir}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix)).sort();
  }
}
