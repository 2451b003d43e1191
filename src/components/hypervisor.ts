/**
 * A platform's hypervisor (Xen for `xen-host`): Debian's package, found and downloaded with apt, checked
 * against the SHA256 of apt's signed index, unpacked into the store once, and the hypervisor image in it
 * kept decompressed (QEMU's multiboot loader and syslinux's mboot.c32 load an ELF). A pointer per
 * hypervisor name (components/hypervisor-NAME.json) makes a warm bake ask apt nothing.
 */

import { createReadStream, createWriteStream } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline } from "node:stream/promises";
import { writeFileAtomic } from "../core/atomic.js";
import { unpackDeb } from "../core/debPackage.js";
import { compressionOf, decompress } from "../core/decompress.js";
import { sha256File } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import { paths } from "../core/paths.js";
import { type Progress, silentProgress } from "../core/progress.js";
import { openStore } from "../core/store.js";
import { aptCandidate, aptDownload, aptRecord } from "./apt.js";
import type { PlatformHypervisor } from "./catalogue.js";

const INDEX_FILE = "kiln-hypervisor.json";
const INDEX_FORMAT = 1;

export interface StoredHypervisor {
  name: string;
  package: string;
  version: string;
  source?: string;
  /** The .deb's sha256 (the store tree's key). */
  deb: string;
  /** The decompressed hypervisor image (absolute path in the store). */
  path: string;
  sha256: string;
  size: number;
  /** The package's copyright file (absolute path), for the SBOM. */
  copyright?: string;
}

interface HypervisorIndex {
  format: number;
  package: string;
  version: string;
  source?: string;
  deb: string;
  /** Relative to the tree root. */
  file: string;
  sha256: string;
  size: number;
  copyright?: string;
}

function pointerPath(name: string, env?: NodeJS.ProcessEnv): string {
  return join(paths.components(env), `hypervisor-${name}.json`);
}

function missing(h: PlatformHypervisor, platform: string, why: string): KilnError {
  return new KilnError(
    "KILN_ECOMPONENTS_MISSING",
    `Cannot use hypervisor ${q(h.name)}: ${why}`,
    `Run \`kiln components fetch --platform ${platform}\` (it downloads ${h.package} with apt).`,
    { details: { hypervisor: h.name, package: h.package } },
  );
}

/** The hypervisor in the store, checked against its recorded digest; KILN_ECOMPONENTS_MISSING if absent. */
export async function loadHypervisor(
  h: PlatformHypervisor,
  platform: string,
  env?: NodeJS.ProcessEnv,
): Promise<StoredHypervisor> {
  let pointer: { deb: string };
  try {
    pointer = JSON.parse(await readFile(pointerPath(h.name, env), "utf8")) as { deb: string };
  } catch {
    throw missing(h, platform, "it has not been fetched");
  }
  const root = openStore(env).treeRoot(pointer.deb);
  let index: HypervisorIndex;
  try {
    index = JSON.parse(await readFile(join(root, INDEX_FILE), "utf8")) as HypervisorIndex;
  } catch {
    throw missing(h, platform, "the store has no unpacked tree for it");
  }
  if (index.format !== INDEX_FORMAT || index.package !== h.package)
    throw missing(h, platform, `the store holds ${q(index.package)}, the platform asks for ${q(h.package)}`);
  const path = join(root, index.file);
  const got = await sha256File(path).catch(() => undefined);
  if (got !== index.sha256)
    throw new KilnError(
      "KILN_ESTORE_CORRUPT",
      `The store is damaged: ${q(path)} ${got ? `has sha256 ${got}, the index says ${index.sha256}` : "cannot be read"}`,
      `Fetch it again with \`kiln components fetch --platform ${platform} --force\`.`,
      { details: { path } },
    );
  return {
    name: h.name,
    package: index.package,
    version: index.version,
    ...(index.source ? { source: index.source } : {}),
    deb: index.deb,
    path,
    sha256: index.sha256,
    size: index.size,
    ...(index.copyright ? { copyright: join(root, index.copyright) } : {}),
  };
}

export interface HypervisorFetch {
  fetched: boolean;
  hypervisor: StoredHypervisor;
}

/** Download (apt), verify and unpack the hypervisor's package, unless the store has that version. */
export async function fetchHypervisor(
  h: PlatformHypervisor,
  platform: string,
  opts: { env?: NodeJS.ProcessEnv; force?: boolean; progress?: Progress } = {},
): Promise<HypervisorFetch> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? silentProgress;
  progress.step(`asking apt for ${h.package}`);
  const version = await aptCandidate(h.package, env);
  const rec = version ? await aptRecord(h.package, version, env) : undefined;
  if (!rec) {
    progress.fail();
    throw new KilnError(
      "KILN_EAPT",
      `Cannot find ${q(h.package)} with apt: ${version ? "apt-cache show gives no SHA256" : "no installation candidate"}`,
      "Run `apt-get update` (as root) so that apt knows the current packages; on a distribution without it, define another hypervisor package in a catalogue file (-c).",
    );
  }
  progress.done(`${h.package} is ${rec.version}`);
  if (!opts.force) {
    const have = await loadHypervisor(h, platform, env).catch(() => undefined);
    if (have?.deb === rec.sha256) return { fetched: false, hypervisor: have };
  }
  const store = openStore(env);
  await store.withTmpDir(async (dir) => {
    progress.step(`downloading ${h.package} ${rec.version}`);
    const file = await aptDownload(rec, dir, env);
    const got = await sha256File(file);
    if (got !== rec.sha256) {
      progress.fail();
      throw new KilnError(
        "KILN_EDIGEST",
        `Digest mismatch for ${q(`${h.package} ${rec.version}`)}: apt's index says sha256 ${rec.sha256}, the file is ${got}`,
        "Download it again (`kiln components fetch --force`). Nothing was stored.",
      );
    }
    progress.done();
    const want = h.file.replace(/^\//, "");
    const copyright = `usr/share/doc/${h.package}/copyright`;
    await store.putTree(
      rec.sha256,
      async (root) => {
        const files = await unpackDeb(file, root, {
          select: (p) => (p === want || p === copyright ? p : undefined),
        });
        if (!files.some((f) => f.path === want))
          throw new KilnError(
            "KILN_ECATALOGUE_INVALID",
            `Package ${q(h.package)} has no file ${q(h.file)}`,
            "Fix the hypervisor's file in the platform definition.",
          );
        // Decompressed once here, so that every bake copies and every launch loads a plain ELF.
        const kind = compressionOf(want) ?? "none";
        const elf = kind === "none" ? want : want.replace(/\.(gz|xz|zst)$/, "");
        if (elf !== want)
          await pipeline(
            decompress(createReadStream(join(root, want)), kind, posix.basename(want), env),
            createWriteStream(join(root, elf)),
          );
        const index: HypervisorIndex = {
          format: INDEX_FORMAT,
          package: rec.name,
          version: rec.version,
          ...(rec.source ? { source: rec.source } : {}),
          deb: rec.sha256,
          file: elf,
          sha256: await sha256File(join(root, elf)),
          size: (await stat(join(root, elf))).size,
          ...(files.some((f) => f.path === copyright) ? { copyright } : {}),
        };
        await writeFile(join(root, INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
      },
      { replace: opts.force === true || (await store.hasTree(rec.sha256)) },
    );
    await store.put(file, rec.sha256);
  });
  await writeFileAtomic(pointerPath(h.name, env), `${JSON.stringify({ deb: rec.sha256 }, null, 2)}\n`);
  return { fetched: true, hypervisor: await loadHypervisor(h, platform, env) };
}
