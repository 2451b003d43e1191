import type { Musl } from "./musl.js";
import { specsWord } from "./quote.js";

/** The C++ runtime as the specs of the g++ wrapper name it. */
export interface CxxSpecsParts {
  /** Header directories, in search order (libstdc++'s, its target directory, backward/). */
  include: string[];
  /** Where libstdc++.a and libsupc++.a are. */
  lib: string;
}

export interface GccSpecsOptions {
  /** The kiln note object every final link includes; none for the runtime's own build. */
  noteObject?: string;
  /** libkilnrt.a (`_dl_find_object`), linked after libgcc_eh.a. */
  runtimeLib?: string;
  /** For the g++ wrapper: libstdc++'s headers and libraries. */
  cxx?: CxxSpecsParts;
  /** kiln's package prefix: its include/ and lib/ are searched after the user's own -I and -L. */
  prefix?: string;
}

/**
 * The specs file that turns the host gcc into a static musl compiler. It follows Debian's own
 * musl-gcc.specs (musl headers before gcc's own, musl's crt files and libraries, no host libc), with these
 * changes: links are always static (crt1.o and crtbeginT.o instead of the PIE set), shared objects are
 * refused with a stable code, every final link (not `-r`) includes the kiln note object, libgcc_eh.a is
 * followed by kiln's `_dl_find_object` (see dlFindObject.ts), and kiln's prefix is searched for headers
 * and libraries after everything the user names.
 *
 * For g++, the C++ headers come first, before musl's, and in the specs rather than on the command line:
 * `-isystem` given by the wrapper would be searched after the specs' musl directory, and libstdc++'s
 * <cstdlib> must `#include_next` musl's <stdlib.h>. `-nostdinc++` drops them as it does for g++ itself.
 * Its libraries' directory is the first -L: gcc's own directory holds glibc's libstdc++.a.
 */
export function gccSpecs(musl: Musl, opts: GccSpecsOptions = {}): string {
  const inc = specsWord(musl.include);
  const lib = specsWord(musl.lib);
  const cxxInc = opts.cxx
    ? ` %{!nostdinc++:${opts.cxx.include.map((d) => `-isystem ${specsWord(d)}`).join(" ")}}`
    : "";
  const includes = `-nostdinc${cxxInc} -isystem ${inc} -isystem include%s`;
  // -idirafter: after every -I and -isystem, so the user's and the sysroot's headers win.
  const prefixInc = opts.prefix ? ` -idirafter ${specsWord(`${opts.prefix}/include`)}` : "";
  // link_libgcc comes after the user's -L on gcc's link line (the link spec comes before them).
  const libDirs = [
    ...(opts.cxx ? [`-L${specsWord(opts.cxx.lib)}`] : []),
    `-L${lib}`,
    ...(opts.prefix ? [`-L${specsWord(`${opts.prefix}/lib`)}`] : []),
    "-L .%s",
  ];
  // The message of %e may not hold ':' or ';' (they end a braced spec's alternatives).
  const shared = `%{shared:%e${SHARED_REFUSAL}}`;
  const note = opts.noteObject ? ` %{!r:${specsWord(opts.noteObject)}}` : "";
  const rt = opts.runtimeLib ? ` ${specsWord(opts.runtimeLib)}` : "";
  return `%rename cpp_options old_cpp_options

*cpp_options:
${includes}${prefixInc} %(old_cpp_options)

*cc1:
%(cc1_cpu) ${includes}${prefixInc}

*link_libgcc:
${libDirs.join(" ")}

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)${rt}

*startfile:
${lib}/crt1.o ${lib}/crti.o crtbeginT.o%s

*endfile:
crtend.o%s ${lib}/crtn.o

*link:
${shared} -nostdlib -static${note} %{rdynamic:-export-dynamic}

*esp_link:


*esp_options:


*esp_cpp_options:


`;
}

/**
 * What gcc prints for `-shared` (after "gcc: fatal error: "): the specs cannot say which wrapper ran, so
 * the wrapper scripts refuse -shared themselves, before gcc runs, and this is only a backstop.
 */
export const SHARED_REFUSAL =
  "KILN_ESHARED_UNSUPPORTED the kiln toolchain links statically and cannot make shared libraries";
