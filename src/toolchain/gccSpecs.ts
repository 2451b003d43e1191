import type { Musl } from "./musl.js";
import { specsWord } from "./quote.js";

/**
 * The specs file that turns the host gcc into a static musl compiler. It follows Debian's own
 * musl-gcc.specs (musl headers before gcc's own, musl's crt files and libraries, no host libc), with three
 * changes: links are always static (crt1.o and crtbeginT.o instead of the PIE set), shared objects are
 * refused with a stable code, and every final link (not `-r`) includes the kiln note object.
 */
export function gccSpecs(musl: Musl, noteObject: string): string {
  const inc = specsWord(musl.include);
  const lib = specsWord(musl.lib);
  // The message of %e may not hold ':' or ';' (they end a braced spec's alternatives).
  const shared =
    "%{shared:%eKILN_ESHARED_UNSUPPORTED the kiln toolchain links statically and cannot make shared libraries (hint - configure with --disable-shared)}";
  return `%rename cpp_options old_cpp_options

*cpp_options:
-nostdinc -isystem ${inc} -isystem include%s %(old_cpp_options)

*cc1:
%(cc1_cpu) -nostdinc -isystem ${inc} -isystem include%s

*link_libgcc:
-L${lib} -L .%s

*libgcc:
libgcc.a%s %:if-exists(libgcc_eh.a%s)

*startfile:
${lib}/crt1.o ${lib}/crti.o crtbeginT.o%s

*endfile:
crtend.o%s ${lib}/crtn.o

*link:
${shared} -nostdlib -static %{!r:${specsWord(noteObject)}} %{rdynamic:-export-dynamic}

*esp_link:


*esp_options:


*esp_cpp_options:


`;
}
