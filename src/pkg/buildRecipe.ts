/**
 * Build one recipe with the kiln toolchain: fetch and check its sources, lay them out (archives extracted
 * safely, `strip` leading folders, patches applied), run its build system configured for the kiln prefix,
 * install into a staging directory (DESTDIR), check that it provides what it says, and pack the staged
 * files as the artifact. Builds happen in the store's scratch space and are cached by a key over
 * everything that goes in (recipe archive, source digests, the dependencies' artifacts, the toolchain), so
 * a second build of the same inputs is a lookup.
 */
import { createReadStream } from "node:fs";
import { copyFile, cp, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { basename, join, posix } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { type Compression, compressionOf } from "../core/decompress.js";
import { sha256 } from "../core/digest.js";
import { isKilnError, KilnError, q } from "../core/errors.js";
import { exec } from "../core/exec.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { scratchName } from "../core/scratchName.js";
import type { Store } from "../core/store.js";
import { KILN_VERSION, TUPLE } from "../core/version.js";
import { runBuildSystem } from "../toolchain/buildSystem.js";
import type { ToolchainInfo } from "../toolchain/toolchain.js";
import { packArtifact } from "./artifact.js";
import { fetchUrlSource } from "./fetchSource.js";
import type { LoadedRecipe } from "./loadRecipe.js";
import { pkgStateDir } from "./prefix.js";
import type { BlobRef } from "./repository.js";

export interface BuildOptions {
  recipe: LoadedRecipe;
  /** sha256 of the recipe archive. */
  recipeSha: string;
  tc: ToolchainInfo;
  store: Store;
  /** name → artifact digest of each dependency installed in the prefix for this build. */
  deps: Readonly<Record<string, string>>;
  mirrors?: readonly string[];
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
}

export interface BuildResult {
  artifact: BlobRef & { path: string };
  cached: boolean;
  key: string;
}

export async function buildRecipe(o: BuildOptions): Promise<BuildResult> {
  const env = o.env ?? process.env;
  const progress = o.progress ?? silentProgress;
  const t = o.recipe.toml;
  const key = sha256(
    JSON.stringify({
      kiln: KILN_VERSION,
      tuple: TUPLE,
      toolchain: [o.tc.note.toolchain, o.tc.backing.path, o.tc.backing.version, o.tc.libc],
      prefix: o.tc.prefix,
      recipe: o.recipeSha,
      sources: (t.sources ?? []).map((s) => s.sha256 ?? s.path),
      deps: Object.keys(o.deps)
        .sort()
        .map((n) => `${n}@${o.deps[n]}`),
    }),
  );
  const record = join(pkgStateDir(env), "builds", `${key}.json`);
  const cached = async (): Promise<BuildResult | undefined> => {
    try {
      const r = JSON.parse(await readFile(record, "utf8")) as BlobRef;
      if (await o.store.has(r.sha256))
        return { artifact: { ...r, path: o.store.blobPath(r.sha256) }, cached: true, key };
    } catch {}
    return undefined;
  };
  const hit = await cached();
  if (hit) return hit;
  return o.store.withLock(`build-${key}`, async () => {
    const again = await cached();
    if (again) return again;
    progress.step(`building ${t.name} ${t.version} (${t.build!.system})`);
    const result = await o.store.withTmpDir(async (work) => {
      const src = join(work, "src");
      await mkdir(src);
      await layOutSources(o, src);
      const stage = join(work, "stage");
      await runBuild(o, join(src, t.build!.dir ?? ""), stage, env);
      const staged = join(stage, ...o.tc.prefix.split("/").filter(Boolean));
      if (!(await stat(staged).catch(() => undefined))) {
        throw new KilnError(
          "KILN_EBUILD_OUTPUT",
          `Building ${t.name} ${t.version} installed nothing under the prefix ${q(o.tc.prefix)}`,
          "Its install step must honour DESTDIR and the prefix kiln passes (--prefix / PREFIX / CMAKE_INSTALL_PREFIX).",
        );
      }
      await checkProvides(o.recipe, staged);
      const art = await packArtifact(staged, o.tc.prefix, { name: t.name, version: t.version }, o.store);
      return { sha256: art.sha256, size: art.size, path: art.path };
    });
    await writeFileAtomic(record, `${JSON.stringify({ sha256: result.sha256, size: result.size })}\n`);
    progress.done(`built ${t.name} ${t.version}`);
    return { artifact: result, cached: false, key };
  });
}

async function layOutSources(o: BuildOptions, src: string): Promise<void> {
  const t = o.recipe.toml;
  for (const [i, s] of (t.sources ?? []).entries()) {
    const dest = join(src, s.dest ?? "");
    await mkdir(dest, { recursive: true });
    let file: string;
    let name: string;
    if (s.url) {
      file = await fetchUrlSource(o.store, { url: s.url, sha256: s.sha256! }, { mirrors: o.mirrors ?? [] });
      name = posix.basename(new URL(s.url).pathname);
    } else {
      file = join(o.recipe.dir, s.path!);
      name = basename(s.path!);
      const st = await stat(file).catch(() => undefined);
      if (!st) {
        throw new KilnError(
          "KILN_ESOURCE_MISSING",
          `The recipe ${q(o.recipe.file)} names the source path ${q(s.path)}, which does not exist`,
          "Fix the path (relative to the recipe's directory) or add the file.",
        );
      }
      if (st.isDirectory()) {
        await cp(file, dest, { recursive: true, verbatimSymlinks: true });
        await applyPatches(o, s.patches ?? [], dest);
        continue;
      }
      if (s.sha256 && (await sha256OfFile(file)) !== s.sha256) {
        throw new KilnError(
          "KILN_EDIGEST",
          `Digest mismatch for the source ${q(s.path)} of ${t.name}: the recipe says sha256 ${s.sha256}`,
          "The file changed; fix it or the recipe's sha256.",
        );
      }
    }
    const kind = archiveKind(name);
    if (kind) {
      const strip = s.strip ?? 1;
      const { extractTar } = await import("../core/safeTar.js");
      const { decompress } = await import("../core/decompress.js");
      const x = join(o.store.root, "tmp", scratchName(`x-${i}`));
      try {
        await extractTar(decompress(createReadStream(file), kind, name), x, {
          label: name,
          select: (p) => {
            const parts = p.split("/");
            return parts.length > strip ? parts.slice(strip).join("/") : undefined;
          },
        });
        await cp(x, dest, { recursive: true, verbatimSymlinks: true });
      } finally {
        const { rm } = await import("node:fs/promises");
        await rm(x, { recursive: true, force: true });
      }
    } else {
      await copyFile(file, join(dest, name));
    }
    await applyPatches(o, s.patches ?? [], dest);
  }
}

function archiveKind(name: string): Compression | undefined {
  if (name.endsWith(".tgz")) return "gz";
  if (!/\.tar(\.(gz|xz|zst))?$/.test(name)) return undefined;
  return compressionOf(name);
}

async function applyPatches(o: BuildOptions, patches: readonly string[], dir: string): Promise<void> {
  for (const p of patches) {
    const r = await exec("patch", ["-p1", "--batch", "--forward", "-i", join(o.recipe.dir, p)], {
      cwd: dir,
      check: false,
    });
    if (r.code !== 0) {
      throw new KilnError(
        "KILN_EPATCH",
        `The patch ${q(p)} of ${o.recipe.toml.name} does not apply: ${(r.stdout + r.stderr).trim().split("\n").slice(-3).join(" ")}`,
        "Update the patch for this version of the sources.",
      );
    }
  }
}

async function sha256OfFile(p: string): Promise<string> {
  const { sha256File } = await import("../core/digest.js");
  return sha256File(p);
}

async function runBuild(o: BuildOptions, dir: string, stage: string, env: NodeJS.ProcessEnv): Promise<void> {
  const t = o.recipe.toml;
  const b = t.build!;
  const tc = o.tc;
  const prefix = tc.prefix;
  const jobs = String(availableParallelism());
  const e: NodeJS.ProcessEnv = {
    ...env,
    ...b.env,
    PATH: `${tc.bin}:${env.PATH ?? ""}`,
    CC: `${TUPLE}-gcc`,
    AR: `${TUPLE}-ar`,
    RANLIB: `${TUPLE}-ranlib`,
    STRIP: `${TUPLE}-strip`,
    PKG_CONFIG: `${TUPLE}-pkg-config`,
    CPPFLAGS: `-I${prefix}/include`,
    LDFLAGS: `-L${prefix}/lib`,
    PREFIX: prefix,
    DESTDIR: stage,
    SOURCE_DATE_EPOCH: "0",
    JOBS: jobs,
  };
  const log: string[] = [];
  const sh = async (cmd: string, args: string[], extra: NodeJS.ProcessEnv = {}) => {
    log.push(`$ ${[cmd, ...args].join(" ")}`);
    try {
      const r = await exec(cmd, args, { cwd: dir, env: { ...e, ...extra } });
      log.push(r.stdout, r.stderr);
    } catch (err) {
      if (isKilnError(err)) {
        const logFile = join(pkgStateDir(env), "logs", `${t.name}-${t.version}.log`);
        await mkdir(join(pkgStateDir(env), "logs"), { recursive: true });
        await writeFile(logFile, `${log.join("\n")}\n${err.message}\n`).catch(() => {});
        throw new KilnError(
          "KILN_EBUILD",
          `Building ${t.name} ${t.version} (${b.system}) failed: ${err.message}`,
          `The whole log is in ${logFile}; the recipe's [build] args or the sources need fixing.`,
          { cause: err },
        );
      }
      throw err;
    }
  };
  if (b.system === "script") {
    await sh("sh", ["-e", "-c", b.script!.join("\n")]);
    return;
  }
  await runBuildSystem({
    system: b.system,
    dir,
    tc,
    jobs,
    args: b.args ?? [],
    install: { prefix, stage, args: b["install-args"] ?? [] },
    sh,
  });
}

async function checkProvides(r: LoadedRecipe, staged: string): Promise<void> {
  const p = r.toml.provides ?? {};
  const missing: string[] = [];
  for (const list of [p.programs, p.libraries, p.headers, p.data]) {
    for (const f of list ?? []) if (!(await stat(join(staged, f)).catch(() => undefined))) missing.push(f);
  }
  if (missing.length) {
    throw new KilnError(
      "KILN_EBUILD_OUTPUT",
      `${r.toml.name} ${r.toml.version} says it provides ${missing.map((m) => q(m)).join(", ")}, but its build did not install ${missing.length === 1 ? "it" : "them"}`,
      `Fix [provides] in ${r.file} (paths are relative to the prefix, like bin/app or lib/libz.a), or the build.`,
    );
  }
}
