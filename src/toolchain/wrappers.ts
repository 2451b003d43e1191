import { KILN_VERSION, TUPLE } from "../core/version.js";
import type { BackingCompiler } from "./detectCompiler.js";
import type { ToolchainLayout } from "./layout.js";
import type { Musl } from "./musl.js";
import { shQuote } from "./quote.js";

/** What clang needs spelled out that gcc gets from its specs: found once, at `kiln toolchain` time. */
export interface ClangParts {
  resourceInclude: string;
  crtbegin: string;
  crtend: string;
  libgcc: string;
  libgccEh?: string;
  /** ld.lld when installed (clang then links with -fuse-ld=lld), else the system ld. */
  lld?: string;
}

export interface WrapperContext {
  layout: ToolchainLayout;
  backing: BackingCompiler;
  musl: Musl;
  prefix: string;
  pkgConfig?: string;
  clang?: ClangParts;
}

const header = (tool: string, what: string) =>
  `#!/bin/sh\n# ${TUPLE}-${tool}: ${what}.\n# Written by kiln ${KILN_VERSION} (\`kiln toolchain\`); rewritten by \`kiln toolchain --force\`.\n`;

/** A wrapper that fails at once with a stable code, for tools the toolchain cannot provide. */
export function refusingScript(
  tool: string,
  code: string,
  message: string,
  hint: string,
  status = 1,
): string {
  return `${header(tool, "not available")}echo ${shQuote(`${TUPLE}-${tool}: error ${code}: ${message}`)} >&2
echo ${shQuote(`  hint: ${hint}`)} >&2
exit ${status}
`;
}

/** How the toolchain does C++: with a built runtime, or by building it on first use, or not at all. */
export type CxxSupport =
  | {
      state: "ready";
      /** g++ or clang++ beside the backing compiler. */
      driver: string;
      include: string[];
      lib: string;
    }
  | {
      state: "on-first-use";
      driver: string;
      /** The command that builds the runtime and rewrites this toolchain with C++ (node, kiln, args). */
      build: string[];
      /** Environment it needs (KILN_HOME of the toolchain). */
      env: Record<string, string>;
    }
  | { state: "unavailable"; why: string; hint: string };

/**
 * The refusal of -shared, from whichever wrapper was asked (gcc's own %e message would say "gcc: error"),
 * with what to do in each kind of build.
 */
function sharedRefusal(tool: string): string {
  return `    -shared) echo ${shQuote(`${TUPLE}-${tool}: error KILN_ESHARED_UNSUPPORTED: the kiln toolchain links statically and cannot make shared libraries (-shared)`)} >&2
      echo ${shQuote(`  hint: build static libraries only: autotools: ./configure --host=${TUPLE} --disable-shared --enable-static; CMake: the kiln toolchain file sets BUILD_SHARED_LIBS=OFF, so change add_library(... SHARED) to STATIC; Meson: the kiln cross file sets default_library=static, so change shared_library() to static_library(); plain make: build the .a target and drop -shared from LDFLAGS`)} >&2
      exit 1 ;;`;
}

/**
 * The compiler drivers. Each is a tiny /bin/sh script that execs the backing compiler with fixed arguments
 * (no node, no subprocess): gcc reads the specs file; clang is told the same things by flags, and the
 * script only scans its arguments to know whether this run links (so that crt files and libraries are
 * added only to links, in the right order around the user's objects). The C++ drivers do the same with
 * g++ or clang++ and the C++ runtime; before the runtime is built, they build it first (once).
 */
export function compilerScripts(ctx: WrapperContext & { cxx: CxxSupport }): Map<string, string> {
  const { backing } = ctx;
  const out = new Map<string, string>();
  const what = `${backing.kind} ${backing.version} (${backing.path}) for static musl programs`;
  const c = cDrivers(ctx, backing.path);
  for (const name of ["cc", "gcc"]) out.set(name, header(name, what) + c.driver(name));
  out.set("cpp", header("cpp", `the C preprocessor of ${what}`) + c.cpp);
  const cxx = ctx.cxx;
  for (const name of ["c++", "g++"]) {
    if (cxx.state === "unavailable") {
      out.set(name, refusingScript(name, "KILN_ECXX_UNSUPPORTED", cxx.why, cxx.hint));
    } else if (cxx.state === "on-first-use") {
      const envWords = Object.entries(cxx.env).map(([k, v]) => `${k}=${shQuote(v)}`);
      out.set(
        name,
        `${header(name, `C++ over ${cxx.driver}; builds the C++ runtime on first use`)}if [ -n "$KILN_CXX_FIRST_USE" ]; then
  echo ${shQuote(`${TUPLE}-${name}: error KILN_ECXX_BUILD: the C++ runtime was built but this toolchain still lacks it`)} >&2
  exit 1
fi
echo ${shQuote(`${TUPLE}-${name}: building the C++ runtime (libstdc++ for musl) once; later runs use it`)} >&2
${envWords.join(" ")} ${cxx.build.map(shQuote).join(" ")} >&2 || exit $?
KILN_CXX_FIRST_USE=1 exec ${shQuote(ctx.layout.tool(name))} "$@"
`,
      );
    } else {
      const d = cDrivers(ctx, cxx.driver, { include: cxx.include, lib: cxx.lib });
      const whatCxx = `${ctx.backing.kind === "gcc" ? "g++" : "clang++"} ${backing.version} (${cxx.driver}) with libstdc++ for static musl programs`;
      out.set(name, header(name, whatCxx) + d.driver(name));
    }
  }
  return out;
}

/** The driver and preprocessor script bodies over `compiler` (gcc or g++, clang or clang++). */
function cDrivers(
  ctx: WrapperContext,
  compiler: string,
  cxx?: { include: string[]; lib: string },
): { driver: (tool: string) => string; cpp: string } {
  const { layout, backing, musl } = ctx;
  const cc = shQuote(compiler);
  // What the link searches, for tools that ask instead of linking (Meson's find_library reads the
  // "libraries:" line, and would otherwise find the host's glibc libraries in gcc's own directories).
  const libSearch = [...(cxx ? [cxx.lib] : []), musl.lib, `${ctx.prefix}/lib`].join(":");
  const searchDirs = (flags: string) => `    -print-search-dirs|--print-search-dirs)
      ${cc} ${flags} -print-search-dirs | grep -v '^libraries:'
      echo ${shQuote(`libraries: =${libSearch}`)}
      exit 0 ;;`;
  if (backing.kind === "gcc") {
    const specs = `-specs=${shQuote(cxx ? layout.cxxSpecs : layout.specs)}`;
    return {
      driver: (tool) => `for a in "$@"; do
  case $a in
${sharedRefusal(tool)}
${searchDirs(specs)}
  esac
done
exec ${cc} ${specs} -static "$@"
`,
      cpp: `${stdinWhenNoInput}exec ${cc} ${specs} -E "$@"
`,
    };
  }
  const c = ctx.clang!;
  // C++ headers first: libstdc++'s <cstdlib> and friends #include_next musl's.
  const cxxInc = cxx ? ` -nostdinc++ ${cxx.include.map((d) => `-isystem ${shQuote(d)}`).join(" ")}` : "";
  const prefixInc = ` -idirafter ${shQuote(`${ctx.prefix}/include`)}`;
  const common = `--target=x86_64-linux-musl -nostdinc${cxxInc} -isystem ${shQuote(musl.include)} -isystem ${shQuote(c.resourceInclude)}${prefixInc} -Qunused-arguments`;
  const libs = [
    ...(cxx ? ["-lstdc++", "-lm"] : []),
    `-lc`,
    shQuote(c.libgcc),
    ...(c.libgccEh ? [shQuote(c.libgccEh)] : []),
    shQuote(layout.runtimeLib),
  ].join(" ");
  const fuseLd = c.lld ? " -fuse-ld=lld" : "";
  const libDirs = [...(cxx ? [cxx.lib] : []), musl.lib, `${ctx.prefix}/lib`].map((d) => `-L${shQuote(d)}`);
  const note = cxx ? layout.cxxNoteObject : layout.noteObject;
  // --no-export-dynamic last: lld gives a static program a DYNAMIC segment for -E/-rdynamic (lua's makefile
  // says -Wl,-E), and `file` then calls it dynamically linked; nothing can use the exported symbols anyway.
  return {
    driver: (tool) => `link=0 nostart=0 nolibs=0
for a in "$@"; do
  case $a in
${searchDirs(common)}
    -c|-S|-E|-M|-MM|-r|-fsyntax-only|--version|-dumpversion|-dumpmachine|-print-*|--print-*) link=no ;;
${sharedRefusal(tool)}
    -nostdlib) nostart=1 nolibs=1 ;;
    -nostartfiles) nostart=1 ;;
    -nodefaultlibs|-nolibc) nolibs=1 ;;
    -*) ;;
    *) [ "$link" = 0 ] && link=1 ;;
  esac
done
if [ "$link" != 1 ]; then
  exec ${cc} ${common} "$@"
fi
[ $nolibs = 1 ] || set -- "$@" -Wl,--start-group ${libs} -Wl,--end-group
[ $nostart = 1 ] || set -- ${shQuote(`${musl.lib}/crt1.o`)} ${shQuote(`${musl.lib}/crti.o`)} ${shQuote(c.crtbegin)} "$@" ${shQuote(c.crtend)} ${shQuote(`${musl.lib}/crtn.o`)}
exec ${cc} ${common} -static -nostdlib${fuseLd} "$@" ${libDirs.join(" ")} ${shQuote(note)} -Wl,--no-export-dynamic
`,
    cpp: `${stdinWhenNoInput}exec ${cc} ${common} -E "$@"
`,
  };
}

// `cpp` with no input file reads standard input; the compiler drivers need `-` said explicitly.
const stdinWhenNoInput = `input=0
for a in "$@"; do
  case $a in -) input=1 ;; -*) ;; *) input=1 ;; esac
done
[ $input = 1 ] || set -- "$@" -
`;

/**
 * pkg-config that sees only the toolchain's sysroot and kiln's package prefix, never the host's
 * /usr/lib/pkgconfig or $PKG_CONFIG_PATH, and answers for static linking (Libs.private included).
 */
export function pkgConfigScript(ctx: WrapperContext): string {
  if (!ctx.pkgConfig) {
    return refusingScript(
      "pkg-config",
      "KILN_ETOOL_MISSING",
      "no pkg-config was found when this toolchain was written",
      "install it (`apt-get install pkg-config`), then run `kiln toolchain --force`",
      127,
    );
  }
  const { sysroot } = ctx.layout;
  const libdir = [
    `${sysroot}/usr/lib/pkgconfig`,
    `${sysroot}/usr/share/pkgconfig`,
    `${ctx.prefix}/lib/pkgconfig`,
    `${ctx.prefix}/share/pkgconfig`,
  ].join(":");
  return `${header("pkg-config", `${ctx.pkgConfig} limited to the toolchain sysroot and kiln's prefix`)}PKG_CONFIG_LIBDIR=${shQuote(libdir)}
PKG_CONFIG_SYSROOT_DIR=/
PKG_CONFIG_SYSTEM_INCLUDE_PATH=${shQuote(ctx.musl.include)}
PKG_CONFIG_SYSTEM_LIBRARY_PATH=${shQuote(ctx.musl.lib)}
export PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_SYSTEM_INCLUDE_PATH PKG_CONFIG_SYSTEM_LIBRARY_PATH
unset PKG_CONFIG_PATH PKG_CONFIG_ALLOW_SYSTEM_CFLAGS PKG_CONFIG_ALLOW_SYSTEM_LIBS
exec ${shQuote(ctx.pkgConfig)} --static "$@"
`;
}
