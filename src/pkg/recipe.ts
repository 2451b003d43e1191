/**
 * The `kiln.toml` schema. One file shape serves two uses:
 * - a package recipe (it has `name`): version, SPDX licence, sources, build, dependencies, what it provides,
 *   image defaults; or a Debian-sourced recipe (`[deb]` instead of sources and build);
 * - a plain project (no `name`): only `[image]` defaults for `kiln run DIR`, plus the `[dependencies]` it
 *   installs and the `repositories` it installs them from.
 * The `[image]` table is also what src/run/imageDefaults.ts reads from a plain project.
 */
import semver from "semver";
import parseSpdx from "spdx-expression-parse";
import { z } from "zod";

const HEX64 = /^[0-9a-f]{64}$/;
/** Package names: what OCI repository path components and file names allow without quoting. */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const relPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), {
    message: "must be a relative path that stays inside the recipe's directory (no leading '/', no '..')",
  });

const prefixPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), {
    message: "must be a path relative to the install prefix (like bin/app or lib/libz.a)",
  });

export const Source = z
  .object({
    /** A tarball (.tar, .tar.gz, .tgz, .tar.xz, .tar.zst) or a single file, fetched and checked. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** A file or directory next to the recipe. */
    path: relPath.optional(),
    sha256: z.string().regex(HEX64, "must be 64 lowercase hex digits").optional(),
    /** Leading path components to drop from tarball entries (default 1: the usual NAME-VERSION/ folder). */
    strip: z.number().int().min(0).max(8).optional(),
    /** Where in the build tree the source goes (default: its root). */
    dest: relPath.optional(),
    /** Patches (files next to the recipe) applied with `patch -p1` in order. */
    patches: z.array(relPath).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.url === undefined) === (s.path === undefined)) {
      ctx.addIssue({ code: "custom", message: "give exactly one of url or path" });
    }
    if (s.url !== undefined && s.sha256 === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["sha256"],
        message: "is required for a url source (the digest of the file to download)",
      });
    }
  });
export type Source = z.infer<typeof Source>;

export const BUILD_SYSTEMS = ["autotools", "cmake", "meson", "make", "script"] as const;

export const Build = z
  .object({
    system: z.enum(BUILD_SYSTEMS),
    /** Extra arguments for configure / cmake / meson setup / make. */
    args: z.array(z.string()).optional(),
    /** Extra arguments for the install step (make install, cmake --install). */
    "install-args": z.array(z.string()).optional(),
    /** Shell lines for `script` (run with sh -e in the source tree; $PREFIX and $DESTDIR are set). */
    script: z.array(z.string()).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
    /** Subdirectory of the source tree to build in. */
    dir: relPath.optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.system === "script" && !b.script?.length) {
      ctx.addIssue({ code: "custom", path: ["script"], message: 'is required when system = "script"' });
    }
    if (b.system !== "script" && b.script !== undefined) {
      ctx.addIssue({ code: "custom", path: ["script"], message: 'is only for system = "script"' });
    }
  });
export type Build = z.infer<typeof Build>;

const range = z.string().refine((r) => semver.validRange(r) !== null, {
  message: 'must be a semver range (like "^1.2", ">=2.0.0 <3", "1.4.x")',
});
const depName = z.string().regex(PACKAGE_NAME, "must be a package name (a-z, 0-9, '.', '_', '-')");
export const Dependencies = z.record(depName, range);

export const Provides = z
  .object({
    programs: z.array(prefixPath).optional(),
    libraries: z.array(prefixPath).optional(),
    headers: z.array(prefixPath).optional(),
    data: z.array(prefixPath).optional(),
  })
  .strict();
export type Provides = z.infer<typeof Provides>;

const portSpec = z
  .union([z.number().int().min(1).max(65535), z.string().regex(/^(\d{1,5}:)?\d{1,5}(\/(tcp|udp))?$/)])
  .transform((p) => String(p));

export const Image = z
  .object({
    platform: z.string().optional(),
    /** Which program is `main` (its file name), when the package provides several. */
    program: z.string().optional(),
    memory: z.number().int().positive().optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    /** Guest ports the program listens on ("6379"), or host:guest forwards ("16379:6379"). */
    ports: z.array(portSpec).optional(),
    /** Destination in the image → path relative to the kiln.toml's directory (and inside it). */
    files: z.record(z.string().startsWith("/"), relPath).optional(),
    /** Run the program as this user (a name among the image's users, or a uid; NAME:GROUP too). */
    user: z.string().min(1).optional(),
    /** Commands run to completion before the program, in order, as its user (argv[0] an absolute path). */
    setup: z.array(z.array(z.string()).min(1)).optional(),
    /** Put Debian's dash in the image as /bin/sh (off by default: a shell is attack surface). */
    shell: z.boolean().optional(),
    /** Kernel components the program needs beyond the platform's (PostgreSQL: ipc.sysv). */
    components: z.array(z.string().min(1)).optional(),
    /**
     * The machine's interfaces, as the boot configuration's `net` (eth0, eth1... in launch order): static
     * `addr` (CIDR) with `gw`, `dhcp`, or neither (up without an address); `dns`, `mtu`. A `--net` without
     * `ip=` keeps these; kiln-init's own checks apply at bake.
     */
    net: z
      .array(
        z
          .object({
            if: z.string(),
            addr: z.string().optional(),
            dhcp: z.boolean().optional(),
            gw: z.string().optional(),
            dns: z.array(z.string()).optional(),
            mtu: z.number().int().optional(),
          })
          .strict(),
      )
      .optional(),
    sysctl: z.record(z.string(), z.string()).optional(),
    routes: z.array(z.object({ dst: z.string(), via: z.string() }).strict()).optional(),
    /** An nftables ruleset (path relative to the kiln.toml's directory), as `kiln bake --firewall`. */
    firewall: relPath.optional(),
  })
  .strict();
export type Image = z.infer<typeof Image>;

export const Deb = z
  .object({
    /** The Debian binary package (default: the recipe's name). */
    package: z
      .string()
      .regex(/^[a-z0-9][a-z0-9+.-]+$/)
      .optional(),
    /** An exact Debian version (default: apt's candidate). */
    version: z.string().optional(),
    /** The program's path inside the packages (default: /usr/bin/NAME, else /usr/sbin/NAME). */
    program: z.string().startsWith("/").optional(),
    /** Run-time files or directories ELF does not name (certificates, NSS modules, data), from the packages. */
    files: z.array(z.string().startsWith("/")).optional(),
    /** Dependencies not to download (and not to follow): packages needed only by maintainer scripts. */
    exclude: z.array(z.string()).optional(),
    /** Take the run-time data the packages ship (language runtimes' libraries, the program's own data and
     * plugins); false: only the program, its libraries and `files`. Default true. */
    data: z.boolean().optional(),
  })
  .strict();
export type Deb = z.infer<typeof Deb>;

const spdx = z.string().refine(
  (s) => {
    try {
      parseSpdx(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an SPDX licence expression (like "MIT", "Zlib", "Apache-2.0 OR MIT")' },
);

export const KilnToml = z
  .object({
    name: z.string().regex(PACKAGE_NAME, "must be a package name (a-z, 0-9, '.', '_', '-')").optional(),
    version: z
      .string()
      .refine((v) => semver.valid(v) === v, { message: 'must be a semver version (like "1.2.3")' })
      .optional(),
    license: spdx.optional(),
    description: z.string().optional(),
    homepage: z.string().optional(),
    sources: z.array(Source).optional(),
    build: Build.optional(),
    deb: Deb.optional(),
    dependencies: Dependencies.optional(),
    "build-dependencies": Dependencies.optional(),
    provides: Provides.optional(),
    image: Image.optional(),
    /** Where a project's dependencies come from: directories, http(s) URLs, oci://host/namespace. */
    repositories: z.array(z.string().min(1)).optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    const isPackage = t.name !== undefined;
    if (!isPackage) {
      for (const key of ["version", "license", "sources", "build", "deb", "provides"] as const) {
        if (t[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "belongs to a package recipe, which needs a name (add name = ...)",
          });
        }
      }
      return;
    }
    for (const key of ["version", "license"] as const) {
      if (t[key] === undefined)
        ctx.addIssue({ code: "custom", path: [key], message: "is required in a recipe" });
    }
    if (t.deb) {
      if (t.sources || t.build) {
        ctx.addIssue({
          code: "custom",
          path: [t.sources ? "sources" : "build"],
          message: "a Debian-sourced recipe ([deb]) has no sources or build of its own",
        });
      }
    } else if (!t.build) {
      ctx.addIssue({ code: "custom", path: ["build"], message: "is required in a recipe (or [deb])" });
    }
  });
export type KilnToml = z.infer<typeof KilnToml>;

/** A recipe with the fields a package must have. */
export type Recipe = KilnToml & { name: string; version: string; license: string };

export function isRecipe(t: KilnToml): t is Recipe {
  return t.name !== undefined;
}

/** What each table allows, for hints. */
export const KEYS: Record<string, readonly string[]> = {
  "": Object.keys(KilnToml.shape),
  sources: Object.keys(Source.shape),
  build: Object.keys(Build.shape),
  provides: Object.keys(Provides.shape),
  image: Object.keys(Image.shape),
  deb: Object.keys(Deb.shape),
};
