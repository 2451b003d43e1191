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
    noteSource: join(root, "lib", "kiln-note.s"),
    noteObject: join(root, "lib", "kiln-note.o"),
    sysroot: join(root, "sysroot"),
    cmake: join(root, `${TUPLE}.cmake`),
    meson: join(root, `${TUPLE}.meson-cross.ini`),
    json: join(root, "toolchain.json"),
  };
}

export type ToolchainLayout = ReturnType<typeof toolchainLayout>;
