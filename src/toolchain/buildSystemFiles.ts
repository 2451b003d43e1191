import { KILN_VERSION, TUPLE } from "../core/version.js";
import type { ToolchainLayout } from "./layout.js";
import { cmakeQuote, mesonQuote } from "./quote.js";

/**
 * A CMake toolchain file: the kiln wrappers as compilers and binutils, find_* limited to the toolchain
 * sysroot and kiln's prefix (programs still come from the host), static libraries only.
 */
export function cmakeToolchainFile(layout: ToolchainLayout, prefix: string): string {
  const t = (name: string) => cmakeQuote(layout.tool(name));
  return `# CMake toolchain file for ${TUPLE}, written by kiln ${KILN_VERSION}.
# Use: cmake -DCMAKE_TOOLCHAIN_FILE=${layout.cmake} ...
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER ${t("gcc")})
set(CMAKE_CXX_COMPILER ${t("g++")})
set(CMAKE_ASM_COMPILER ${t("gcc")})
set(CMAKE_AR ${t("ar")} CACHE FILEPATH "kiln ar")
set(CMAKE_RANLIB ${t("ranlib")} CACHE FILEPATH "kiln ranlib")
set(CMAKE_NM ${t("nm")} CACHE FILEPATH "kiln nm")
set(CMAKE_STRIP ${t("strip")} CACHE FILEPATH "kiln strip")
set(CMAKE_OBJCOPY ${t("objcopy")} CACHE FILEPATH "kiln objcopy")
set(CMAKE_OBJDUMP ${t("objdump")} CACHE FILEPATH "kiln objdump")
set(CMAKE_READELF ${t("readelf")} CACHE FILEPATH "kiln readelf")
set(CMAKE_LINKER ${t("ld")} CACHE FILEPATH "kiln ld")
set(PKG_CONFIG_EXECUTABLE ${t("pkg-config")} CACHE FILEPATH "kiln pkg-config")
set(CMAKE_FIND_ROOT_PATH ${cmakeQuote(layout.sysroot)} ${cmakeQuote(prefix)})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
set(BUILD_SHARED_LIBS OFF CACHE BOOL "kiln links statically")
set_property(GLOBAL PROPERTY TARGET_SUPPORTS_SHARED_LIBS FALSE)
`;
}

/** A Meson cross file with the same tools; the programs run on the host, so no exe wrapper is needed. */
export function mesonCrossFile(layout: ToolchainLayout): string {
  const t = (name: string) => mesonQuote(layout.tool(name));
  return `# Meson cross file for ${TUPLE}, written by kiln ${KILN_VERSION}.
# Use: meson setup --cross-file ${layout.meson} BUILDDIR
[binaries]
c = ${t("gcc")}
cpp = ${t("g++")}
ar = ${t("ar")}
strip = ${t("strip")}
nm = ${t("nm")}
objcopy = ${t("objcopy")}
readelf = ${t("readelf")}
pkgconfig = ${t("pkg-config")}

[host_machine]
system = 'linux'
cpu_family = 'x86_64'
cpu = 'x86_64'
endian = 'little'

[properties]
needs_exe_wrapper = false

[built-in options]
default_library = 'static'
prefer_static = true
`;
}
