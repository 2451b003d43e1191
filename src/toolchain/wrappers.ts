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

/**
 * The compiler drivers. Each is a tiny /bin/sh script that execs the backing compiler with fixed arguments
 * (no node, no subprocess): gcc reads the specs file; clang is told the same things by flags, and the
 * script only scans its arguments to know whether this run links (so that crt files and libraries are
 * added only to links, in the right order around the user's objects).
 */
export function compilerScripts(ctx: WrapperContext): Map<string, string> {
  const { layout, backing, musl } = ctx;
  const out = new Map<string, string>();
  const cc = shQuote(backing.path);
  const what = `${backing.kind} ${backing.version} (${backing.path}) for static musl programs`;
  let driver: string;
  let cpp: string;
  if (backing.kind === "gcc") {
    const specs = `-specs=${shQuote(layout.specs)}`;
    driver = `exec ${cc} ${specs} -static "$@"\n`;
    cpp = `${stdinWhenNoInput}exec ${cc} ${specs} -E "$@"\n`;
  } else {
    const c = ctx.clang!;
    const common = `--target=x86_64-linux-musl -nostdinc -isystem ${shQuote(musl.include)} -isystem ${shQuote(c.resourceInclude)} -Qunused-arguments`;
    const libs = [`-lc`, shQuote(c.libgcc), ...(c.libgccEh ? [shQuote(c.libgccEh)] : [])].join(" ");
    const fuseLd = c.lld ? " -fuse-ld=lld" : "";
    driver = `link=0 nostart=0 nolibs=0
for a in "$@"; do
  case $a in
    -c|-S|-E|-M|-MM|-r|-fsyntax-only|--version|-dumpversion|-dumpmachine|-print-*|--print-*) link=no ;;
    -shared) echo ${shQuote(`${TUPLE}-gcc: error KILN_ESHARED_UNSUPPORTED: the kiln toolchain links statically; shared libraries are not supported`)} >&2
      echo '  hint: configure with --disable-shared (or build a static library)' >&2
      exit 1 ;;
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
exec ${cc} ${common} -static -nostdlib${fuseLd} "$@" -L${shQuote(musl.lib)} ${shQuote(layout.noteObject)}
`;
    cpp = `${stdinWhenNoInput}exec ${cc} ${common} -E "$@"\n`;
  }
  for (const name of ["cc", "gcc"]) out.set(name, header(name, what) + driver);
  out.set("cpp", header("cpp", `the C preprocessor of ${what}`) + cpp);
  for (const name of ["c++", "g++"]) {
    out.set(
      name,
      refusingScript(
        name,
        "KILN_ECXX_UNSUPPORTED",
        "C++ is not supported: Debian ships no libstdc++ built for musl",
        `build C sources with ${TUPLE}-gcc; C++ needs a musl libstdc++, which kiln does not provide yet`,
      ),
    );
  }
  return out;
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
