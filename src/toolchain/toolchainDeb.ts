/**
 * `kiln toolchain --deb`: the toolchain as a Debian package, for a distribution to ship.
 *   /usr/lib/kiln/toolchain/                       the toolchain directory, written for this place: wrapper
 *                                                  scripts, specs, note object (and its source), CMake
 *                                                  toolchain file, Meson cross file, toolchain.json
 *   /usr/bin/x86_64-kiln-linux-musl-*              symlinks to its tools
 *   /usr/share/doc/PKG/{copyright,changelog.gz}    DEP-5 copyright
 * Depends names the Debian packages that own the host files the toolchain runs or reads (the backing
 * compiler, binutils, musl-dev, pkg-config), asked of dpkg, so a package made over clang depends on clang.
 * kiln's package prefix becomes /usr/lib/kiln/prefix (a per-user KILN_HOME means nothing to a system
 * package). Bytes are deterministic: the toolchain is rendered from fixed paths and core/debWriter.ts fixes
 * the rest.
 */
import { readdir, readFile, readlink, realpath, stat, writeFile } from "node:fs/promises";
import { dirname, join, posix, resolve } from "node:path";
import {
  buildDebArchive,
  changelogName,
  checkDebVersion,
  type DebPayload,
  deb822Block,
  debMaintainer,
  debMtime,
  oneEntryChangelog,
  wrapText,
} from "../core/debWriter.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import { exec } from "../core/exec.js";
import { claimOutput, writeOutput } from "../core/outputPath.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { openStore } from "../core/store.js";
import { KILN_VERSION, TUPLE } from "../core/version.js";
import { CXX_LICENSE } from "./cxxLicense.js";
import { stageToolchain, type ToolchainInfo } from "./toolchain.js";

/** Debian package names take no underscore. */
export const TOOLCHAIN_PACKAGE = `kiln-toolchain-${TUPLE.replaceAll("_", "-")}`;
export const TOOLCHAIN_INSTALL_DIR = "/usr/lib/kiln/toolchain";
export const SYSTEM_PREFIX = "/usr/lib/kiln/prefix";

export interface ToolchainDebOptions {
  /** Backing compiler (default: $CC, else gcc). */
  cc?: string;
  /** Package version (default: KILN_DEB_VERSION, else kiln's version). */
  version?: string;
  maintainer?: string;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Include the C++ runtime (built first if need be) and C++ wrappers that use it. */
  cxx?: boolean;
}

export interface ToolchainDeb {
  deb: Buffer;
  control: string;
  package: string;
  version: string;
  depends: string[];
  /** Installed paths (files and symlinks). */
  files: string[];
  toolchain: ToolchainInfo;
}

/** The standard file name dpkg-deb --build would choose. */
export function toolchainDebFileName(version: string): string {
  return `${TOOLCHAIN_PACKAGE}_${version.replace(/^\d+:/, "")}_amd64.deb`;
}

/** Every file and symlink under `root`, relative, sorted. */
async function walk(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(root, p)));
    else out.push(p);
  }
  return out;
}

/**
 * Debian policy 10.5: a symlink within one top-level directory is relative, across them absolute.
 * `at` and `target` are absolute installed paths.
 */
export function policySymlink(at: string, target: string): string {
  const top = (p: string) => p.split("/")[1];
  if (!target.startsWith("/") || top(at) !== top(target)) return target;
  return posix.relative(posix.dirname(at), target) || ".";
}

/** The Debian packages owning `files` (and the files their symlinks resolve to), from dpkg's database. */
export async function owningPackages(files: readonly string[], env?: NodeJS.ProcessEnv): Promise<string[]> {
  const paths = new Set<string>();
  for (const f of files) {
    paths.add(f);
    paths.add(await realpath(f).catch(() => f));
  }
  // One query for all (each dpkg-query reads the whole database); unowned paths only go to stderr.
  const r = await exec("dpkg-query", ["-S", ...paths], { check: false, ...(env ? { env } : {}) }).catch(
    () => undefined,
  );
  const pkgs = new Set<string>();
  for (const p of paths) {
    const owners = r ? ownersFromSearch(r.stdout, p) : [];
    if (owners.length === 0) {
      throw new KilnError(
        "KILN_ETOOLCHAIN_DEB_DEPENDS",
        `Cannot package the toolchain: ${q(p)}, which it uses, belongs to no Debian package${r ? "" : " (dpkg-query cannot be run)"}`,
        "Package a toolchain over Debian's own compiler and tools (--cc gcc or --cc clang from apt), so that its Depends can name them.",
      );
    }
    for (const o of owners) pkgs.add(o);
  }
  return [...pkgs].sort();
}

/** `dpkg-query -S` lines are "pkg1, pkg2:arch: /path" (and "diversion by ..." lines, skipped). */
export function ownersFromSearch(stdout: string, path: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.endsWith(`: ${path}`) || line.startsWith("diversion ")) continue;
    for (const pkg of line.slice(0, -(path.length + 2)).split(", "))
      out.push(pkg.replace(/:[a-z0-9-]+$/, ""));
  }
  return out;
}

/** The C++ runtime's paragraphs: libstdc++ (GCC's runtime library exception) and what it bundles. */
function cxxCopyright(dir: string, runtime: string): string {
  return `
Files: ${dir}/c++/*
Copyright: Free Software Foundation, Inc.
License: GPL-3+ with GCC-exception-3.1 exception
Comment: ${runtime}, built for musl by kiln from Debian's gcc-12-source and linked statically into
 C++ programs. The full texts are in ${dir}/c++/share/COPYING3 and COPYING.RUNTIME, and on Debian
 systems GPL-3 is in /usr/share/common-licenses/GPL-3. SPDX: ${CXX_LICENSE}.

Files: ${dir}/c++/include/c++/12/pstl/*
Copyright: Intel Corporation
License: Apache-2.0 with LLVM exception
Comment: SPDX: Apache-2.0 WITH LLVM-exception. libstdc++ also bundles ryu (Apache-2.0 OR BSL-1.0) and
 fast_float (Apache-2.0 OR MIT) in the compiled library.

License: GPL-3+ with GCC-exception-3.1 exception
 On Debian systems the full text of the GPL-3 is in /usr/share/common-licenses/GPL-3, and the GCC
 Runtime Library Exception 3.1 is in ${dir}/c++/share/COPYING.RUNTIME.

License: Apache-2.0 with LLVM exception
 On Debian systems the full text of the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0;
 the LLVM exception is in the headers' SPDX line.
`;
}

function copyrightFile(info: ToolchainInfo): string {
  const dir = TOOLCHAIN_INSTALL_DIR.slice(1);
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: kiln
Comment: The ${TUPLE} toolchain, written by kiln ${KILN_VERSION} over ${info.backing.kind} ${info.backing.version}
 (${info.backing.path}) and ${info.libc}. The compiler, binutils and musl it drives are
 not in this package: they come from the packages it depends on, under their own licences.

Files: *
Copyright: The kiln authors
License: Apache-2.0

Files: ${dir}/lib/musl.specs${info.cxx.state === "ready" ? ` ${dir}/lib/musl-c++.specs` : ""}
Copyright: The kiln authors
 2005-2020 Rich Felker, et al.
License: Apache-2.0 and MIT
Comment: Follows musl's musl-gcc.specs, as Debian's musl-tools ships it.
${info.cxx.state === "ready" ? cxxCopyright(dir, info.cxx.runtime ?? "libstdc++") : ""}
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining
 a copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including
 without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to
 the following conditions:
 .
 The above copyright notice and this permission notice shall be
 included in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
 EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`;
}

/** Build the toolchain package in memory (the toolchain is written and self-tested in a scratch directory). */
export async function buildToolchainDeb(opts: ToolchainDebOptions = {}): Promise<ToolchainDeb> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  const version = opts.version ?? env.KILN_DEB_VERSION ?? KILN_VERSION;
  checkDebVersion(version);
  const maintainer = debMaintainer(env, opts.maintainer);
  const mtime = debMtime(env);
  return openStore(env).withTmpDir(async (stage) => {
    progress.step(`writing the toolchain for ${TOOLCHAIN_INSTALL_DIR} and checking it`);
    const staged = await stageToolchain({
      stage,
      dir: TOOLCHAIN_INSTALL_DIR,
      prefix: SYSTEM_PREFIX,
      ...(opts.cc ? { cc: opts.cc } : {}),
      ...(opts.cxx ? { cxx: true, progress } : {}),
      env,
    });
    const info = staged.info;
    progress.step("finding the Debian packages it depends on");
    const depends = await owningPackages(staged.hostFiles, env);
    progress.step(`packaging ${TOOLCHAIN_PACKAGE} ${version}`);
    const base = TOOLCHAIN_INSTALL_DIR.slice(1);
    const payload: DebPayload[] = [];
    for (const rel of await walk(stage)) {
      const path = `${base}/${rel}`;
      const st = await stat(join(stage, rel)).catch(() => undefined);
      const link = await readlink(join(stage, rel)).catch(() => undefined);
      if (link !== undefined) payload.push({ path, symlink: policySymlink(`/${path}`, link) });
      else if (st?.isFile()) {
        payload.push({
          path,
          data: await readFile(join(stage, rel)),
          mode: st.mode & 0o111 ? 0o755 : 0o644,
        });
      }
    }
    for (const p of [...payload]) {
      if (dirname(p.path) !== `${base}/bin`) continue;
      const name = p.path.slice(p.path.lastIndexOf("/") + 1);
      payload.push({ path: `usr/bin/${name}`, symlink: policySymlink(`/usr/bin/${name}`, `/${p.path}`) });
    }
    const doc = `usr/share/doc/${TOOLCHAIN_PACKAGE}`;
    payload.push(
      { path: `${doc}/copyright`, data: Buffer.from(copyrightFile(info)) },
      {
        path: `${doc}/${changelogName(version)}`,
        data: oneEntryChangelog(
          TOOLCHAIN_PACKAGE,
          version,
          `The ${TUPLE} toolchain packaged by kiln ${KILN_VERSION}.`,
          maintainer,
          mtime,
        ),
      },
    );
    const { deb, control } = await buildDebArchive({
      fields: [
        ["Package", TOOLCHAIN_PACKAGE],
        ["Version", version],
        ["Architecture", "amd64"],
        ["Maintainer", maintainer],
        ["Depends", depends.join(", ")],
        ["Section", "devel"],
        ["Priority", "optional"],
        [
          "Description",
          `kiln's ${TUPLE} toolchain: static musl programs\n${deb822Block(
            wrapText(
              `Compiler wrappers (${TUPLE}-gcc, -cc, -cpp${info.cxx.state === "ready" ? ", -g++, -c++" : ""} and binutils), a CMake toolchain file and a Meson cross file that build static programs against musl with ${info.backing.kind} ${info.backing.version}.${info.cxx.state === "ready" ? ` C++ links with ${info.cxx.runtime}, built for musl, in ${TOOLCHAIN_INSTALL_DIR}/c++.` : ""} Every program they link carries an ELF note (.note.kiln) naming the toolchain and libc, which kiln bake checks. Installed in ${TOOLCHAIN_INSTALL_DIR}; the tools are on PATH as /usr/bin/${TUPLE}-*.`,
              78,
            ),
          )}`,
        ],
      ],
      payload,
      mtime,
    });
    return {
      deb,
      control,
      package: TOOLCHAIN_PACKAGE,
      version,
      depends,
      files: payload.map((p) => `/${p.path}`).sort(),
      toolchain: info,
    };
  });
}

export interface WrittenToolchainDeb extends Omit<ToolchainDeb, "deb"> {
  out: string;
  size: number;
  sha256: string;
}

/**
 * Build the package and write it to `out` (default: its standard file name in `cwd`) atomically: a failure
 * leaves no file, and an existing one is replaced only by a whole new package, and only if kiln wrote it
 * or `force` is set (src/core/outputPath.ts).
 */
export async function writeToolchainDeb(
  out: string | undefined,
  opts: ToolchainDebOptions & { cwd?: string; force?: boolean } = {},
): Promise<WrittenToolchainDeb> {
  const env = opts.env ?? process.env;
  const version = opts.version ?? env.KILN_DEB_VERSION ?? KILN_VERSION;
  checkDebVersion(version);
  const file = resolve(opts.cwd ?? process.cwd(), out ?? toolchainDebFileName(version));
  const output = {
    kind: "file" as const,
    ...(opts.force ? { force: true } : {}),
    ...(opts.env ? { env } : {}),
  };
  await claimOutput(file, output);
  const { deb, ...rest } = await buildToolchainDeb({ ...opts, version });
  await writeOutput(file, output, (tmp) => writeFile(tmp, deb));
  return { ...rest, out: file, size: deb.length, sha256: sha256(deb) };
}
