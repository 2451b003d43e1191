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
import type { BakeResult, ProgramInput } from "./bake.js";

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
    // A Debian package's program comes with its closure: the files the SBOM inputs name a package for.
    // They go back to bake the way deb: resolution hands them over, so bake checks and records them again.
    const owner = (path: string) => m.sbom?.files?.[path]?.debPackage;
    const fromDebian = m.programs.some((p) => owner(p.path));
    const closure: NonNullable<ProgramInput["files"]> = [];
    const add: { src: string; dest: string }[] = [];
    for (const [i, f] of m.files.entries()) {
      const to = join(work, "files", String(i), f.path.slice(f.path.lastIndexOf("/") + 1));
      await take(f.path, to);
      const pkg = fromDebian ? owner(f.path) : undefined;
      if (pkg) closure.push({ src: to, dest: f.path, mode: byPath.get(f.path)!.perm & 0o7777, package: pkg });
      else add.push({ src: to, dest: f.path });
    }
    const links: { dest: string; target: string }[] = [];
    for (const l of m.links ?? []) {
      const pkg = fromDebian ? owner(l.path) : undefined;
      if (pkg) closure.push({ src: l.target, dest: l.path, symlink: l.target, package: pkg });
      else links.push({ dest: l.path, target: l.target });
    }
    const packages = fromDebian ? await recordedPackages(m, work) : [];
    // A platform's own programs (a Xen host's toolstack) come first, as its catalogue entry describes them.
    const { loadCatalogue } = await import("../components/catalogue.js");
    const platformSpec = (await loadCatalogue({ env: opts.env })).platforms.get(m.platform);
    const ownSpecs = platformSpec?.programs ?? [];
    const platformPrograms: ProgramInput[] = [];
    const programs: (string | ProgramInput)[] = [];
    // A baked firewall: its ruleset, and Debian's nft as the first program (bake puts it before the platform's).
    let firewall: { file: string; program: ProgramInput } | undefined;
    const firewallFile = join(work, "firewall.nft");
    if (m.firewall) await take(m.firewall.path, firewallFile);
    for (const [n, p] of m.programs.entries()) {
      const i = m.firewall ? n - 1 : n;
      const to = join(work, "programs", String(n), p.source);
      await take(p.path, to);
      const pkg = owner(p.path);
      if (!pkg) {
        programs.push(to);
        continue;
      }
      // Each carries the whole closure (bake takes each destination once) and names its own package first,
      // which bake records as the program's.
      const input: ProgramInput = {
        src: to,
        dest: p.path,
        // A recipe's memory, recorded as the image's (bake takes the larger of it and the platform's).
        ...(m.memory ? { memory: m.memory } : {}),
        files: closure,
        packages: [...packages].sort((x, y) => Number(y.name === pkg) - Number(x.name === pkg)),
      };
      const spec = ownSpecs[i];
      if (i < 0) firewall = { file: firewallFile, program: input };
      else if (i < ownSpecs.length && spec)
        platformPrograms.push({
          ...input,
          args: spec.args,
          mode: spec.mode,
          ...(spec.ready ? { ready: spec.ready } : {}),
        });
      else programs.push(input);
    }
    const configFile = join(work, "config.json");
    // bake puts the platform's mounts before the configuration's own: give back only the latter.
    const config = { ...m.config };
    const mounts = platformSpec?.mounts ?? [];
    if (mounts.length && JSON.stringify(config.blk?.slice(0, mounts.length)) === JSON.stringify(mounts)) {
      const rest = config.blk!.slice(mounts.length);
      if (rest.length) config.blk = rest;
      else delete config.blk;
    }
    await writeFile(configFile, JSON.stringify(config));
    const { bake } = await import("./bake.js");
    const rebake = async (out: string, cmdline?: string): Promise<BakeResult> =>
      bake({
        platform: m.platform,
        out,
        programs,
        ...(platformPrograms.length ? { platformPrograms } : {}),
        ...(firewall ? { firewall } : {}),
        kernel: m.kernel.kind,
        add,
        links,
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

/**
 * The Debian packages the image's files come from, as deb: resolution describes them to bake, in the order
 * the manifest recorded them (bake keeps that order); copyright texts go back through files.
 */
async function recordedPackages(
  m: ImageManifest,
  work: string,
): Promise<NonNullable<ProgramInput["packages"]>> {
  const out: NonNullable<ProgramInput["packages"]> = [];
  // All of them, bake's own (musl, the kernel) too: bake records each name once, where it first came.
  for (const [name, p] of Object.entries(m.sbom?.debian?.packages ?? {})) {
    let copyrightFile: string | undefined;
    if (p.copyright !== undefined) {
      copyrightFile = join(work, "copyright", name);
      await mkdir(dirname(copyrightFile), { recursive: true });
      await writeFile(copyrightFile, p.copyright);
    }
    out.push({
      name,
      version: p.version,
      source: p.source ?? name,
      sourceVersion: p.sourceVersion ?? p.version,
      ...(copyrightFile ? { copyrightFile } : {}),
    });
  }
  return out;
}
