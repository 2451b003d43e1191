/** The licence of libstdc++ and of the code it bundles (field notes, "C++ for musl"; COPYING.RUNTIME). */
export const CXX_LICENSE = "GPL-3.0-or-later WITH GCC-exception-3.1";
export const CXX_BUNDLED: { name: string; license: string; path: string }[] = [
  { name: "ryu", license: "Apache-2.0 OR BSL-1.0", path: "libstdc++-v3/src/c++17/ryu" },
  { name: "fast_float", license: "Apache-2.0 OR MIT", path: "libstdc++-v3/src/c++17/fast_float" },
  { name: "pstl", license: "Apache-2.0 WITH LLVM-exception", path: "libstdc++-v3/include/pstl" },
];
