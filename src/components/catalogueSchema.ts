/**
 * Parsing and validating catalogue files (TOML, zod). Loaded only when the catalogue cache misses.
 */
import { parse, TomlError } from "smol-toml";
import { z } from "zod";
import { KilnError, q } from "../core/errors.js";
import type { Catalogue, Component, Platform } from "./catalogue.js";
import { FLAVOURS, type KernelFlavour } from "./flavour.js";

const FLAVOUR_NAMES = Object.keys(FLAVOURS) as [KernelFlavour, ...KernelFlavour[]];

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
const SYMBOL = /^[A-Z0-9_]+$/;
const MODULE = /^[A-Za-z0-9_-]+$/;

const ComponentDef = z
  .object({
    description: z.string().min(1),
    kconfig: z
      .array(z.string().regex(SYMBOL, "a Kconfig symbol without CONFIG_, like VIRTIO_NET"))
      .default([]),
    kconfig_extra: z.array(z.string().regex(SYMBOL, "a Kconfig symbol without CONFIG_")).default([]),
    modules: z.array(z.string().regex(MODULE, "a module name, like virtio_net")).default([]),
  })
  .strict()
  .refine((c) => c.kconfig.length > 0 || c.modules.length > 0, "needs kconfig symbols or modules");

const ABS = /^\/[^\0]*$/;
const DEB = /^[a-z0-9][a-z0-9+.-]+$/;

const ProgramDef = z
  .object({
    deb: z.string().regex(DEB, "a Debian package name"),
    bin: z.string().regex(ABS, "an absolute path in the package"),
    args: z.array(z.string()).default([]),
    mode: z.enum(["setup", "bg", "none"]).default("bg"),
    ready: z.string().regex(ABS, "an absolute path").optional(),
    exclude: z.array(z.string().regex(DEB, "a Debian package name")).default([]),
    files: z.array(z.string().regex(ABS, "an absolute path in the packages")).default([]),
  })
  .strict()
  .refine((p) => p.ready === undefined || p.mode === "bg", "ready is for bg programs only");

const PlatformDef = z
  .object({
    description: z.string().min(1),
    include: z.array(z.string().regex(NAME)).default([]),
    components: z.array(z.string().regex(NAME)).default([]),
    kernel: z.enum(FLAVOUR_NAMES).optional(),
    hypervisor: z
      .object({
        name: z.string().regex(NAME),
        package: z.string().regex(DEB, "a Debian package name"),
        file: z.string().regex(ABS, "an absolute path in the package"),
        cmdline: z.string().default(""),
      })
      .strict()
      .optional(),
    cmdline: z.string().optional(),
    programs: z.array(ProgramDef).default([]),
    dirs: z.array(z.string().regex(ABS, "an absolute path")).default([]),
    links: z.record(z.string().regex(ABS, "an absolute path"), z.string().min(1)).default({}),
    mounts: z
      .array(
        z
          .object({
            dev: z.string().regex(/^[a-z0-9]+$/),
            fs: z.string().min(1),
            mount: z.string().regex(ABS, "an absolute path"),
          })
          .strict(),
      )
      .default([]),
    memory: z.number().int().min(16).optional(),
    main: z
      .object({ args: z.array(z.string()).default([]), argv_xen_dm: z.boolean().default(false) })
      .strict()
      .optional(),
    module_params: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]+$/, "a module name"),
        z.string().regex(/^[^\s=]+=[^\s]*( [^\s=]+=[^\s]*)*$/, "parameters like name=value, space-separated"),
      )
      .default({}),
  })
  .strict();

const FileDef = z
  .object({
    components: z
      .record(z.string().regex(NAME, "a lowercase name; quote names with dots"), ComponentDef)
      .optional(),
    platforms: z
      .record(z.string().regex(NAME, "a lowercase name; quote names with dots"), PlatformDef)
      .optional(),
  })
  .strict();

function invalid(file: string, line: number | undefined, key: string, why: string): KilnError {
  return new KilnError(
    "KILN_ECATALOGUE_INVALID",
    `Cannot use catalogue ${q(file)}${line ? ` line ${line}` : ""}: key ${q(key)}: ${why}`,
    'See data/components.toml and data/platforms.toml for the format: [components."NAME"] with description, kconfig, kconfig_extra, modules; [platforms.NAME] with description, include, components (and kernel, hypervisor, cmdline, programs, dirs, links, mounts, memory).',
    { kind: "usage", details: { file, ...(line ? { line } : {}), key } },
  );
}

/** Where a key is written: the line of its table header, or of the key inside that table. */
export function locate(text: string, path: (string | number)[]): number | undefined {
  const lines = text.split("\n");
  const [section, name, field] = path;
  if (typeof section !== "string") return undefined;
  if (typeof name !== "string") {
    const i = lines.findIndex((l) => new RegExp(`^\\s*\\[\\s*${esc(section)}\\b`).test(l));
    return i >= 0 ? i + 1 : undefined;
  }
  const header = new RegExp(
    `^\\s*\\[\\s*${esc(section)}\\s*\\.\\s*("${esc(name)}"|'${esc(name)}'|${esc(name)})\\s*\\]`,
  );
  let h = lines.findIndex((l) => header.test(l));
  // [components.my.thing] (an unquoted dotted name) makes a table "my" holding a table "thing".
  const nested = new RegExp(`^\\s*\\[\\s*${esc(section)}\\s*\\.\\s*${esc(name)}\\s*\\.`);
  if (h < 0) h = lines.findIndex((l) => nested.test(l));
  if (h < 0) return undefined;
  if (typeof field === "string") {
    for (let i = h + 1; i < lines.length && !/^\s*\[/.test(lines[i]!); i++) {
      if (new RegExp(`^\\s*${esc(field)}\\s*=`).test(lines[i]!)) return i + 1;
    }
  }
  return h + 1;
}

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export async function parseCatalogueFiles(files: { path: string; text: string }[]): Promise<Catalogue> {
  const components = new Map<string, Component>();
  const platforms = new Map<string, Platform>();
  const texts = new Map(files.map((f) => [f.path, f.text]));
  for (const { path, text } of files) {
    let raw: unknown;
    try {
      raw = parse(text);
    } catch (e) {
      if (e instanceof TomlError) {
        throw invalid(
          path,
          e.line,
          "(syntax)",
          e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, ""),
        );
      }
      throw e;
    }
    const r = FileDef.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const at = [...issue.path] as (string | number)[];
      // An unknown key is found on its own line.
      if (issue.code === "unrecognized_keys" && issue.keys[0]) at.push(issue.keys[0]);
      const line = locate(text, at);
      const headerLine = locate(text, at.slice(0, 2));
      const header = headerLine === undefined ? "" : (text.split("\n")[headerLine - 1] ?? "");
      const dotted = /^\s*\[\s*\w+\s*\.\s*[\w-]+\s*\./.test(header);
      throw invalid(
        path,
        line,
        issue.path.map(String).join(".") || "(top)",
        dotted ? `${issue.message} (quote a name with dots: [components."my.thing"])` : issue.message,
      );
    }
    for (const [name, c] of Object.entries(r.data.components ?? {})) {
      components.set(name, {
        name,
        description: c.description,
        kconfig: c.kconfig,
        kconfigExtra: c.kconfig_extra,
        modules: c.modules,
        source: path,
      });
    }
    for (const [name, p] of Object.entries(r.data.platforms ?? {})) {
      platforms.set(name, {
        name,
        description: p.description,
        include: p.include,
        components: p.components,
        ...(p.kernel ? { kernel: p.kernel } : {}),
        ...(p.hypervisor ? { hypervisor: p.hypervisor } : {}),
        ...(p.cmdline ? { cmdline: p.cmdline } : {}),
        programs: p.programs.map((x) => ({ ...x, ...(x.ready ? { ready: x.ready } : {}) })),
        dirs: p.dirs,
        links: p.links,
        mounts: p.mounts,
        ...(p.memory ? { memory: p.memory } : {}),
        ...(p.main ? { main: { args: p.main.args, argvXenDm: p.main.argv_xen_dm } } : {}),
        moduleParams: Object.fromEntries(
          Object.entries(p.module_params).map(([k, v]) => [k.replace(/-/g, "_"), v]),
        ),
        source: path,
      });
    }
  }
  // References are checked once every file is in: a user file may name components another file defines.
  for (const p of platforms.values()) {
    const text = texts.get(p.source) ?? "";
    for (const inc of p.include) {
      if (!platforms.has(inc)) {
        throw invalid(
          p.source,
          locate(text, ["platforms", p.name, "include"]),
          `platforms.${p.name}.include`,
          `unknown platform ${q(inc)}`,
        );
      }
    }
    for (const c of p.components) {
      if (!components.has(c)) {
        throw invalid(
          p.source,
          locate(text, ["platforms", p.name, "components"]),
          `platforms.${p.name}.components`,
          `unknown component ${q(c)}`,
        );
      }
    }
  }
  for (const p of platforms.values()) {
    const stack: string[] = [];
    const walk = (name: string) => {
      if (stack.includes(name)) {
        const text = texts.get(p.source) ?? "";
        throw invalid(
          p.source,
          locate(text, ["platforms", p.name, "include"]),
          `platforms.${p.name}.include`,
          `includes form a cycle: ${[...stack, name].join(" → ")}`,
        );
      }
      stack.push(name);
      for (const inc of platforms.get(name)!.include) walk(inc);
      stack.pop();
    };
    walk(p.name);
  }
  return { components, platforms };
}
