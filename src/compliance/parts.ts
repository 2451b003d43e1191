/**
 * The parts of a baked image: every file in the initrd mapped to what it is (kiln-init, a program, a kernel
 * module, kiln's generated config, a file the user added, a file from a Debian package), plus the parts
 * that are not files there: the kernel and the hypervisor of a Xen host (files of the image directory) and
 * musl, which every program links in statically. Each part carries digests, a purl, an SPDX licence and where it came from: the input of
 * the SBOMs, the licence report, the policy check and the advisory audit.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type CpioReadEntry, readCpio } from "../core/cpioRead.js";
import { parseElf, readKilnNote } from "../core/elf.js";
import { type Image, type ImageManifest, readImagePart } from "../manifest/imageManifest.js";
import { CXX_BUNDLED, CXX_LICENSE } from "../toolchain/cxxLicense.js";
import type { DebPackageFacts } from "./debianFacts.js";
import { debianPackageLicense } from "./dep5.js";
import { NOASSERTION, NONE, parseLicenseExpression } from "./licenseExpression.js";
import { debPurl, genericPurl } from "./purl.js";
import { gatherSbomInputs, MUSL_PACKAGE, recordedSbomInputs, type SbomInputs } from "./sbomInputs.js";

export type PartKind =
  | "hypervisor"
  | "kernel"
  | "module"
  | "libc"
  | "init"
  | "program"
  | "library"
  | "file"
  | "config";

export interface DebianOrigin {
  package: string;
  version: string;
  /** Source package: what Debian's advisories name. */
  source: string;
  sourceVersion: string;
  arch: string;
  release: string;
}

export interface Part {
  /** Unique and stable within the image: "kernel", "init", "program:/bin/hello", "libc:musl@1.2.3-1", ... */
  id: string;
  kind: PartKind;
  name: string;
  version?: string;
  /** Absolute path in the initrd. */
  path?: string;
  /** File of the image directory (the kernel, the hypervisor). */
  file?: string;
  sha256?: string;
  sha1?: string;
  size?: number;
  purl?: string;
  /** SPDX expression, NOASSERTION (not known) or NONE (kiln's generated data). */
  license: string;
  supplier?: string;
  debian?: DebianOrigin;
  /** The part this one is a file of (modules: the kernel package). */
  containedIn?: string;
  /** Parts linked statically into this one (musl into programs and kiln-init). */
  links?: string[];
  /** Symlink target. */
  target?: string;
  /** Why the part is as it is, when that is not obvious (assumptions, missing facts). */
  note?: string;
}

export interface ImageParts {
  name: string;
  platform: string;
  kiln: string;
  /** sha256 of manifest.json: names the image (it holds the digests of kernel and initrd). */
  digest: string;
  /** Creation time for SBOMs, fixed by the image (manifest.sbom.created, else 1970-01-01). */
  created: string;
  debian?: { release: string; arch: string };
  parts: Part[];
  /** Texts of the licences parts name, by SPDX id (for LicenseRef-* these are the only definition). */
  licenseTexts: Record<string, string>;
  /** Copyright files of the Debian packages parts come from, by binary package name. */
  copyrights: Record<string, string>;
  warnings: string[];
}

export interface CollectOptions {
  /** SBOM inputs (Debian facts, file licences); default: manifest.sbom, else gathered on this host. */
  inputs?: SbomInputs;
  env?: NodeJS.ProcessEnv;
}

const KIND_ORDER: PartKind[] = [
  "hypervisor",
  "kernel",
  "module",
  "libc",
  "init",
  "program",
  "library",
  "file",
  "config",
];

function digests(data: Uint8Array): { sha256: string; sha1: string; size: number } {
  return {
    sha256: createHash("sha256").update(data).digest("hex"),
    sha1: createHash("sha1").update(data).digest("hex"),
    size: data.length,
  };
}

/** "musl 1.2.3-1" (the libc field of kiln's ELF note) → name and version. */
export function parseLibc(libc: string): { name: string; version: string } | undefined {
  const m = /^(\S+)\s+(\S+)$/.exec(libc.trim());
  return m ? { name: m[1]!, version: m[2]! } : undefined;
}

/**
 * "libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)" (the cxx field of a C++ program's kiln note) → the
 * runtime's name and version, and the Debian source package kiln built it from.
 */
export function parseCxxRuntime(
  label: string,
): { name: string; version: string; source?: { name: string; version: string } } | undefined {
  const m = /^(\S+)\s+(\S+)(?:\s+\((\S+)\s+(\S+)\))?$/.exec(label.trim());
  if (!m) return undefined;
  return { name: m[1]!, version: m[2]!, ...(m[3] ? { source: { name: m[3], version: m[4]! } } : {}) };
}

function kilnNoteOf(data: Buffer): { libc: string; toolchain: string; cxx?: string } | undefined {
  if (data.length < 64 || data[0] !== 0x7f || data.toString("latin1", 1, 4) !== "ELF") return undefined;
  try {
    return readKilnNote(parseElf(data, "initrd entry"));
  } catch {
    return undefined;
  }
}

/** Everything compliance needs from an image: read the manifest, check and walk the initrd, map each file. */
export async function collectParts(image: Image, opts: CollectOptions = {}): Promise<ImageParts> {
  const manifestBytes = await readFile(join(image.dir, "manifest.json"));
  const m = image.manifest;
  const [kernel, initrd, hypervisor] = await Promise.all([
    readImagePart(image, "kernel"),
    readImagePart(image, "initrd"),
    m.hypervisor ? readImagePart(image, "hypervisor") : undefined,
  ]);
  const inputs =
    opts.inputs ?? recordedSbomInputs(m, image.dir) ?? (await gatherSbomInputs(m, { env: opts.env }));
  return partsFrom(m, inputs, {
    manifestDigest: createHash("sha256").update(manifestBytes).digest("hex"),
    kernel,
    ...(hypervisor ? { hypervisor } : {}),
    entries: readCpio(initrd, join(image.dir, m.initrd.file)),
    readImageFile: (rel) => readFile(join(image.dir, rel), "utf8"),
  });
}

/** The mapping itself, on bytes already read (collectParts reads and checks them). */
export async function partsFrom(
  m: ImageManifest,
  inputs: SbomInputs,
  img: {
    manifestDigest: string;
    kernel: Buffer;
    /** The hypervisor's bytes, when the image carries one. */
    hypervisor?: Buffer;
    entries: CpioReadEntry[];
    readImageFile?: (rel: string) => Promise<string>;
  },
): Promise<ImageParts> {
  const warnings: string[] = [];
  const licenseTexts: Record<string, string> = {};
  const copyrights: Record<string, string> = {};
  const debian = inputs.debian;
  const release = debian?.release ?? "unknown";
  const arch = debian?.arch ?? "amd64";

  /** Licence of a Debian package from its copyright file; `main` for the kernel (see below). */
  const debLicense = async (pkg: string, facts: DebPackageFacts | undefined, scope: "main" | "all") => {
    let text = facts?.copyright;
    if (text === undefined && facts?.copyrightFile && img.readImageFile)
      text = await img.readImageFile(facts.copyrightFile).catch(() => undefined);
    if (text === undefined) return undefined;
    copyrights[pkg] = text;
    const lic = debianPackageLicense(text, pkg);
    for (const l of lic.licenses) if (l.text && !licenseTexts[l.id]) licenseTexts[l.id] = l.text;
    return scope === "main" ? lic.main : lic.expression;
  };
  const origin = (pkg: string, facts: DebPackageFacts, source?: string): DebianOrigin => ({
    package: pkg,
    version: facts.version,
    source: source ?? facts.source ?? pkg,
    sourceVersion: facts.sourceVersion ?? facts.version,
    arch,
    release,
  });

  const parts: Part[] = [];

  // The kernel. Debian's copyright file describes the whole source tree (tools, firmware helpers, ...);
  // the built kernel and its modules are GPL-2.0-only, the licence of its `Files: *` paragraph.
  const k = m.kernel;
  const kernelFacts: DebPackageFacts | undefined = k.package
    ? (debian?.packages[k.package] ?? (k.version ? { version: k.version } : undefined))
    : undefined;
  const kernelLicense =
    (k.package ? await debLicense(k.package, kernelFacts, "main") : undefined) ?? "GPL-2.0-only";
  const kernelPart: Part = {
    id: "kernel",
    kind: "kernel",
    name: k.package ?? `linux-${k.release}`,
    ...(k.version ? { version: k.version } : {}),
    file: k.file,
    ...digests(img.kernel),
    license: kernelLicense,
  };
  if (k.package && kernelFacts) {
    // linux-image-* is built by linux-signed-amd64, a signed wrapper of `linux`: advisories name `linux`
    // and its versions equal the binary package's.
    kernelPart.debian = { ...origin(k.package, kernelFacts, "linux"), sourceVersion: kernelFacts.version };
    kernelPart.supplier = "Debian";
    kernelPart.purl = debPurl(k.package, kernelFacts.version, { arch, release, source: "linux" });
  } else {
    kernelPart.purl = genericPurl("linux", k.version ?? k.release);
    kernelPart.note = `a ${k.kind} kernel without a Debian package version: advisories cannot be matched`;
    warnings.push(`kernel ${k.release}: ${kernelPart.note}`);
  }
  parts.push(kernelPart);

  // The hypervisor of a Xen host, from Debian's package: its `Files: *` licence, as for the kernel (the
  // copyright file also covers the tools built from the same source, which are not in this part).
  const h = m.hypervisor;
  if (h && img.hypervisor) {
    const facts: DebPackageFacts = debian?.packages[h.package] ?? {
      version: h.version,
      ...(h.source ? { source: h.source } : {}),
    };
    parts.push({
      id: "hypervisor",
      kind: "hypervisor",
      name: h.package,
      version: facts.version,
      file: h.file,
      ...digests(img.hypervisor),
      license: (await debLicense(h.package, facts, "main")) ?? "GPL-2.0-only",
      supplier: "Debian",
      debian: origin(h.package, facts, h.source),
      purl: debPurl(h.package, facts.version, { arch, release, source: facts.source ?? h.source }),
    });
  } else if (h) warnings.push(`hypervisor ${h.name}: named by the manifest, but its file was not read`);

  // musl, once per version found in the programs' notes.
  const muslFacts = debian?.packages[MUSL_PACKAGE];
  const libcParts = new Map<string, Part>();
  const libcFor = async (libc: string | undefined, who: string): Promise<string | undefined> => {
    let parsed = libc ? parseLibc(libc) : undefined;
    let assumed = false;
    if (!parsed && muslFacts) {
      parsed = { name: "musl", version: muslFacts.version };
      assumed = true;
    }
    if (!parsed) {
      warnings.push(`${who}: no kiln note naming its libc, and no Debian facts about ${MUSL_PACKAGE}`);
      return undefined;
    }
    const id = `libc:${parsed.name}@${parsed.version}`;
    if (!libcParts.has(id)) {
      const isDebianMusl = parsed.name === "musl" && muslFacts !== undefined;
      const facts: DebPackageFacts = { ...(muslFacts ?? {}), version: parsed.version };
      const lic = isDebianMusl ? await debLicense(MUSL_PACKAGE, muslFacts, "all") : undefined;
      const part: Part = {
        id,
        kind: "libc",
        name: parsed.name,
        version: parsed.version,
        license: lic ?? NOASSERTION,
      };
      if (isDebianMusl) {
        part.supplier = "Debian";
        part.debian = origin(MUSL_PACKAGE, facts, "musl");
        part.purl = debPurl(MUSL_PACKAGE, parsed.version, { arch, release, source: "musl" });
        if (muslFacts.version !== parsed.version)
          part.note = `linked from ${MUSL_PACKAGE} ${parsed.version}; licence read from ${muslFacts.version}`;
      } else part.purl = genericPurl(parsed.name, parsed.version);
      libcParts.set(id, part);
    }
    if (assumed) {
      const p = libcParts.get(id)!;
      p.note ??= `${who} carries no kiln note; assumed linked with ${MUSL_PACKAGE} ${parsed.version}`;
    }
    return id;
  };

  // The C++ runtime (and what it bundles), once per runtime named in the programs' notes.
  const cxxParts = new Map<string, Part[]>();
  const cxxFor = (label: string | undefined): string | undefined => {
    const rt = label ? parseCxxRuntime(label) : undefined;
    if (!rt) return undefined;
    const id = `library:${rt.name}@${rt.version}`;
    if (!cxxParts.has(id)) {
      const known = rt.name === "libstdc++";
      const from = rt.source ? ` from Debian's ${rt.source.name} ${rt.source.version}` : "";
      cxxParts.set(id, [
        {
          id,
          kind: "library",
          name: rt.name,
          version: rt.version,
          purl: genericPurl(rt.name, rt.version),
          license: known ? CXX_LICENSE : NOASSERTION,
          supplier: "kiln",
          note: `C++ runtime built by the kiln toolchain${from} and linked statically into C++ programs`,
        },
        ...(known
          ? CXX_BUNDLED.map(
              (b): Part => ({
                id: `library:${rt.name}@${rt.version}/${b.name}`,
                kind: "library",
                name: b.name,
                purl: genericPurl(b.name),
                license: b.license,
                containedIn: id,
                note: `bundled in ${rt.name} (${b.path})`,
              }),
            )
          : []),
      ]);
    }
    return id;
  };

  const programs = new Map(m.programs.map((p) => [p.path, p]));
  const modules = new Map(m.modules.map((x) => [x.path, x]));
  const added = new Set(m.files.map((f) => f.path));
  const fileFacts = inputs.files ?? {};
  const debPackageParts = new Map<string, Part>();
  const seen = new Set<string>();
  /** The part of a Debian package files come from (made once); undefined when the inputs do not describe it. */
  const debPart = async (pkg: string): Promise<Part | undefined> => {
    const pf = debian?.packages[pkg];
    if (!pf) return undefined;
    if (!debPackageParts.has(pkg)) {
      const o = origin(pkg, pf);
      debPackageParts.set(pkg, {
        id: `deb:${pkg}`,
        kind: "library",
        name: pkg,
        version: pf.version,
        purl: debPurl(pkg, pf.version, { arch, release, source: o.source }),
        license: (await debLicense(pkg, pf, "all")) ?? NOASSERTION,
        supplier: "Debian",
        debian: o,
      });
    }
    return debPackageParts.get(pkg);
  };

  for (const e of img.entries) {
    if (e.type === "dir") continue;
    const path = e.path;
    seen.add(path);
    const d = digests(e.data);
    const base = { path, ...d, ...(e.type === "symlink" ? { target: e.target } : {}) };
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (e.type === "other") warnings.push(`${path}: a special file (mode ${e.mode.toString(8)})`);

    if (path === m.init.path) {
      const note = kilnNoteOf(e.data);
      const libc = await libcFor(note?.libc, path);
      parts.push({
        id: "init",
        kind: "init",
        name: "kiln-init",
        version: m.init.version,
        ...base,
        purl: genericPurl("kiln-init", m.init.version),
        license: "Apache-2.0",
        supplier: "kiln",
        ...(libc ? { links: [libc] } : {}),
      });
      continue;
    }
    const prog = programs.get(path);
    if (prog) {
      const facts = fileFacts[path];
      // A Debian package's program (deb:NAME): the package names it, versions it and licenses it.
      const dp = facts?.debPackage ? await debPart(facts.debPackage) : undefined;
      if (dp) {
        parts.push({
          id: `program:${path}`,
          kind: "program",
          name: dp.name,
          ...(dp.version ? { version: dp.version } : {}),
          ...base,
          ...(dp.purl ? { purl: dp.purl } : {}),
          license: dp.license,
          supplier: "Debian",
          ...(dp.debian ? { debian: dp.debian } : {}),
          containedIn: dp.id,
        });
        continue;
      }
      const note = kilnNoteOf(e.data);
      const libc = await libcFor(note?.libc ?? prog.note?.libc, path);
      const cxx = cxxFor(note?.cxx);
      const links = [...(libc ? [libc] : []), ...(cxx ? [cxx] : [])];
      parts.push({
        id: `program:${path}`,
        kind: "program",
        name: facts?.name ?? name,
        ...(facts?.version ? { version: facts.version } : {}),
        ...base,
        purl: facts?.purl ?? genericPurl(facts?.name ?? name, facts?.version, d.sha256),
        license: checkedLicense(facts?.license, path),
        ...(facts?.supplier ? { supplier: facts.supplier } : {}),
        ...(links.length ? { links } : {}),
      });
      continue;
    }
    const mod = modules.get(path);
    if (mod) {
      parts.push({
        id: `module:${path}`,
        kind: "module",
        name: mod.name,
        ...(k.version ? { version: k.version } : {}),
        ...base,
        license: kernelLicense,
        ...(kernelPart.supplier ? { supplier: kernelPart.supplier } : {}),
        containedIn: "kernel",
      });
      continue;
    }
    const facts = fileFacts[path];
    if (facts?.debPackage) {
      const pkg = facts.debPackage;
      const pf = debian?.packages[pkg];
      if (!(await debPart(pkg))) {
        warnings.push(`${path}: from Debian package ${pkg}, which the SBOM inputs do not describe`);
      }
      parts.push({
        id: `file:${path}`,
        kind: "file",
        name,
        ...base,
        license: facts.license
          ? checkedLicense(facts.license, path)
          : (debPackageParts.get(pkg)?.license ?? NOASSERTION),
        ...(pf ? { supplier: "Debian", containedIn: `deb:${pkg}` } : {}),
      });
      continue;
    }
    if (added.has(path) || facts) {
      parts.push({
        id: `file:${path}`,
        kind: "file",
        name: facts?.name ?? name,
        ...(facts?.version ? { version: facts.version } : {}),
        ...base,
        ...(facts?.purl ? { purl: facts.purl } : {}),
        license: checkedLicense(facts?.license, path),
        ...(facts?.supplier ? { supplier: facts.supplier } : {}),
      });
      continue;
    }
    if (path.startsWith("/kiln/")) {
      parts.push({ id: `config:${path}`, kind: "config", name, ...base, license: NONE, supplier: "kiln" });
      continue;
    }
    parts.push({
      id: `file:${path}`,
      kind: "file",
      name,
      ...base,
      license: NOASSERTION,
      note: "in the initrd but not in the manifest",
    });
    warnings.push(`${path}: in the initrd but not named by the manifest`);
  }

  for (const p of [m.init.path, ...programs.keys(), ...modules.keys(), ...added]) {
    if (!seen.has(p)) warnings.push(`${p}: named by the manifest but not in the initrd`);
  }
  parts.push(...libcParts.values(), ...[...cxxParts.values()].flat(), ...debPackageParts.values());
  parts.sort(
    (a, b) =>
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );

  const created = new Date((inputs.created ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    name: m.name,
    platform: m.platform,
    kiln: m.kiln,
    digest: img.manifestDigest,
    created,
    ...(debian ? { debian: { release: debian.release, arch: debian.arch } } : {}),
    parts,
    licenseTexts,
    copyrights,
    warnings,
  };
}

/** A licence given by a recipe or user: a valid SPDX expression, else KILN_ELICENSE_INVALID naming the file. */
function checkedLicense(expr: string | undefined, path: string): string {
  if (expr === undefined) return NOASSERTION;
  return parseLicenseExpression(expr, `the licence of ${path}`).expression;
}
