/**
 * Provenance check: bake the image again from what it records and compare. The programs and added files
 * are taken from the image's own initrd, the boot configuration and kernel command line from its manifest,
 * the kernel, modules and kiln-init from this kiln and its store. Same bytes means the image is what this
 * kiln makes from those inputs (bake is deterministic); a difference names the part that differs (a kernel
 * from another package version, a kiln-init from another kiln, a file changed after baking).
 *
 * Until bake records its inputs (the proposed `manifest.provenance`), platform catalogues given with -c
 * cannot be recovered: images from custom platforms are reported as not verifiable.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type CpioReadEntry, readCpio } from "../core/cpioRead.js";
import { sha256 } from "../core/digest.js";
import { KilnError, q } from "../core/errors.js";
import { openStore } from "../core/store.js";
import { type ImageManifest, readImage } from "../manifest/imageManifest.js";
import type { BakeResult } from "./bake.js";

export interface Difference {
  /** "kernel", "initrd", "manifest", or an initrd path. */
  what: string;
  recorded?: string;
  rebuilt?: string;
}

export interface VerifyResult {
  image: string;
  same: boolean;
  recorded: { kernel: string; initrd: string; manifest: string };
  rebuilt: { kernel: string; initrd: string; manifest: string };
  differences: Difference[];
}

function entryDigests(entries: CpioReadEntry[]): Map<string, string> {
  return new Map(
    entries.map((e) => [e.path, `${e.type}:${e.perm.toString(8)}:${e.type === "dir" ? "" : sha256(e.data)}`]),
  );
}

export async function verifyImage(
  dir: string,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<VerifyResult> {
  const img = await readImage(dir);
  const m = img.manifest;
  const [initrd, manifestBytes, kernel] = await Promise.all([
    readFile(img.initrd),
    readFile(join(dir, "manifest.json")),
    readFile(img.kernel),
  ]);
  const entries = readCpio(initrd, img.initrd);
  const byPath = new Map(entries.map((e) => [e.path, e]));
  return openStore(opts.env).withTmpDir(async (work) => {
    const take = async (path: string, to: string) => {
      const e = byPath.get(path);
      if (e?.type !== "file")
        throw new KilnError(
          "KILN_EVERIFY_INPUT",
          `Cannot verify image ${q(dir)}: its manifest names ${q(path)}, which its initrd does not hold`,
          "The image is damaged; bake it again.",
        );
      await mkdir(dirname(to), { recursive: true });
      await writeFile(to, e.data);
      await chmod(to, e.perm & 0o111 ? 0o755 : 0o644);
    };
    const programs: string[] = [];
    for (const [i, p] of m.programs.entries()) {
      const to = join(work, "programs", String(i), p.source);
      await take(p.path, to);
      programs.push(to);
    }
    const add: { src: string; dest: string }[] = [];
    for (const [i, f] of m.files.entries()) {
      const to = join(work, "files", String(i), f.path.slice(f.path.lastIndexOf("/") + 1));
      await take(f.path, to);
      add.push({ src: to, dest: f.path });
    }
    const configFile = join(work, "config.json");
    await writeFile(configFile, JSON.stringify(m.config));
    const { bake } = await import("./bake.js");
    const rebake = async (out: string, cmdline?: string): Promise<BakeResult> =>
      bake({
        platform: m.platform,
        out,
        programs,
        kernel: m.kernel.kind,
        add,
        links: (m.links ?? []).map((l) => ({ dest: l.path, target: l.target })),
        configFile,
        // Images from before the time was recorded carry 0.
        mtime: m.initrd.mtime ?? 0,
        components: requestedComponents(m),
        name: m.name,
        ...(cmdline ? { cmdline } : {}),
        // The SBOMs' creation time is the SOURCE_DATE_EPOCH of the bake (unset: none), not this run's.
        env: { ...(opts.env ?? process.env), SOURCE_DATE_EPOCH: String(m.sbom?.created ?? "") },
      });
    let out = join(work, "out");
    let r = await rebake(out);
    // The recorded command line is bake's own plus what --cmdline added: recover the addition.
    if (r.manifest.cmdline !== m.cmdline && m.cmdline.startsWith(`${r.manifest.cmdline} `)) {
      out = join(work, "out2");
      r = await rebake(out, m.cmdline.slice(r.manifest.cmdline.length + 1));
    }
    const [newInitrd, newManifest, newKernel] = await Promise.all([
      readFile(join(out, "initrd")),
      readFile(join(out, "manifest.json")),
      readFile(join(out, "kernel")),
    ]);
    const recorded = { kernel: sha256(kernel), initrd: sha256(initrd), manifest: sha256(manifestBytes) };
    const rebuilt = { kernel: sha256(newKernel), initrd: sha256(newInitrd), manifest: sha256(newManifest) };
    const differences: Difference[] = [];
    for (const k of ["kernel", "initrd", "manifest"] as const) {
      if (recorded[k] !== rebuilt[k])
        differences.push({ what: k, recorded: recorded[k], rebuilt: rebuilt[k] });
    }
    if (recorded.initrd !== rebuilt.initrd) {
      const a = entryDigests(entries);
      const b = entryDigests(readCpio(newInitrd, "rebuilt initrd"));
      for (const path of [...new Set([...a.keys(), ...b.keys()])].sort()) {
        if (a.get(path) !== b.get(path))
          differences.push({
            what: path,
            ...(a.has(path) ? { recorded: a.get(path) } : {}),
            ...(b.has(path) ? { rebuilt: b.get(path) } : {}),
          });
      }
    }
    if (recorded.manifest !== rebuilt.manifest) {
      const a = JSON.parse(manifestBytes.toString()) as Record<string, unknown>;
      const b = r.manifest as unknown as Record<string, unknown>;
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) differences.push({ what: `manifest.${key}` });
      }
    }
    return { image: dir, same: differences.length === 0, recorded, rebuilt, differences };
  });
}

/** The components asked for on top of the platform's own: from the recorded command, else every one. */
function requestedComponents(m: ImageManifest): string[] {
  const cmd = m.provenance?.command;
  if (!cmd) return m.components.map((c) => c.name);
  return cmd.flatMap((a, i) => (a === "--component" && cmd[i + 1] ? [cmd[i + 1]!] : []));
}
