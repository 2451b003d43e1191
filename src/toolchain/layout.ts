import { join } from "node:path";
import { TUPLE } from "../core/version.js";

/** Tools every toolchain directory provides, each as bin/x86_64-kiln-linux-musl-NAME. */
export const COMPILER_TOOLS = ["cc", "gcc", "cpp", "c++", "g++"] as const;
export const BINUTILS = [
  "ld",
  "ar",
  "as",
  "ranlib",
  "nm",
  "strip",
  "objcopy",
  "objdump",
  "readelf",
  "size",
  "strings",
] as const;
export type Binutil = (typeof BINUTILS)[number];
export const TOOLS = [...COMPILER_TOOLS, ...BINUTILS, "pkg-config"] as const;

/** Where each part of a toolchain directory lives; `root` is the directory's final path. */
export function toolchainLayout(root: string) {
  const bin = join(root, "bin");
  return {
    root,
    bin,
    tool: (name: string) => join(bin, `${TUPLE}-${name}`),
    lib: join(root, "lib"),
    specs: join(root, "lib", "musl.specs"),
    /** The g++ wrapper's specs: musl.specs plus the C++ runtime's headers and libraries. */
    cxxSpecs: join(root, "lib", "musl-c++.specs"),
    noteSource: join(root, "lib", "kiln-note.s"),
    noteObject: join(root, "lib", "kiln-note.o"),
    /** The note of C++ programs: also names the C++ runtime they carry. */
    cxxNoteSource: join(root, "lib", "kiln-note-c++.s"),
    cxxNoteObject: join(root, "lib", "kiln-note-c++.o"),
    /** kiln's libc-neutral helpers for libgcc (`_dl_find_object`), and their source. */
    runtimeLib: join(root, "lib", "libkilnrt.a"),
    runtimeSource: join(root, "lib", "kiln-dl-find-object.c"),
    /** A copy of the C++ runtime, in a packaged toolchain (a KILN_HOME toolchain names the shared one). */
    cxxRuntime: join(root, "c++"),
    sysroot: join(root, "sysroot"),
    cmake: join(root, `${TUPLE}.cmake`),
    meson: join(root, `${TUPLE}.meson-cross.ini`),
    json: join(root, "toolchain.json"),
  };
}

export type ToolchainLayout = ReturnType<typeof toolchainLayout>;
