/**
 * The files a Debian program reads at run time that ELF does not name, found from what the packages ship
 * (the SBOM already names every package a file comes from):
 * - the library trees of a language runtime the program is or embeds, from any package of the closure:
 *   Python's standard library and dist-packages, Perl's module directories, Node's and Ruby's trees;
 * - the data of the program's own source package (every binary package of that source in the closure):
 *   /usr/share/<it>, /usr/lib/<it> (plugins a program dlopen()s, like QEMU's accelerator modules), /etc.
 *   Other programs of that source (/usr/bin, /usr/sbin) stay out: each is a program of its own, not data.
 * What a system installs for its init system, its docs or its desktop stays out too.
 */
import type { RootView } from "./rootView.js";

/**
 * Trees a language runtime loads its library from, taken whole from whichever package ships them, when the
 * runtime is in the image: its interpreter is the program, or its shared library is in the program's
 * closure (a program that embeds it). memcached depends on perl for a helper script; it gets no Perl.
 */
const RUNTIMES: readonly { uses: RegExp; trees: readonly RegExp[] }[] = [
  {
    uses: /^\/usr\/(bin\/python3(\.\d+)?|lib\/x86_64-linux-gnu\/libpython3[.\d]*\.so[.\d]*)$/,
    trees: [/^\/usr\/lib\/python3(\.\d+)?\//],
  },
  {
    uses: /^\/usr\/(bin\/perl(5[.\d]+)?|lib\/x86_64-linux-gnu\/libperl\.so[.\d]*)$/,
    trees: [/^\/usr\/share\/perl5?\//, /^\/usr\/lib\/x86_64-linux-gnu\/perl(5|-base)?\//],
  },
  {
    uses: /^\/usr\/(bin\/node(js)?|lib\/x86_64-linux-gnu\/libnode\.so[.\d]*)$/,
    trees: [/^\/usr\/share\/nodejs\//, /^\/usr\/lib\/x86_64-linux-gnu\/nodejs\//],
  },
  {
    uses: /^\/usr\/(bin\/ruby[.\d]*|lib\/x86_64-linux-gnu\/libruby[-.\d]*\.so[.\d]*)$/,
    trees: [
      /^\/usr\/lib\/ruby\//,
      /^\/usr\/lib\/x86_64-linux-gnu\/ruby\//,
      /^\/usr\/share\/rubygems-integration\//,
      /^\/var\/lib\/gems\//,
    ],
  },
  {
    // Debian builds QEMU with --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu: its BIOS
    // and option ROMs are other source packages' data, on QEMU's own search path.
    uses: /^\/usr\/bin\/qemu-system-[a-z0-9_]+$/,
    trees: [/^\/usr\/share\/seabios\//, /^\/usr\/lib\/ipxe\/qemu\//],
  },
];

/** Never data: other programs, docs, and what only an init system, a desktop or an administrator reads. */
const NOT_DATA: readonly RegExp[] = [
  /^\/(usr\/)?s?bin\//,
  /^\/usr\/games\//,
  /^\/usr\/share\/(doc|doc-base|man|info|locale|lintian|bug|bash-completion|zsh|fish|menu|applications|icons|pixmaps|metainfo|appdata|apport|polkit-1|dbus-1|gtk-doc|help|vim|apparmor|apparmor-features)\//,
  /^\/(usr\/)?lib\/(systemd|tmpfiles\.d|sysusers\.d|udev|modules-load\.d|sysctl\.d)\//,
  /^\/etc\/(init\.d|init|systemd|logrotate\.d|cron\.[a-z]+|default|apparmor\.d|ufw|insserv\.conf\.d|dbus-1|rc[0-6S]\.d)\//,
  /^\/usr\/include\//,
  /\/pkgconfig\//,
  /\.a$/,
];

export interface DataPackage {
  name: string;
  source: string;
}

/**
 * Paths (files or symlinks, as the packages ship them) to add beside a program, sorted. `own` names the
 * packages whose source package counts as the program's (the package asked for and the program's own);
 * `loaded` the program's path and every object of its shared-library closure (resolved paths).
 */
export function debDataPaths(
  view: RootView,
  packages: readonly DataPackage[],
  own: readonly string[],
  loaded: readonly string[],
): string[] {
  const sourceOf = new Map(packages.map((p) => [p.name, p.source]));
  const ownSources = new Set(own.flatMap((n) => (sourceOf.has(n) ? [sourceOf.get(n)!] : [])));
  const trees = RUNTIMES.filter((r) => loaded.some((p) => r.uses.test(p))).flatMap((r) => r.trees);
  const out: string[] = [];
  for (const [path, f] of view.files) {
    if (NOT_DATA.some((r) => r.test(path))) continue;
    if (trees.some((r) => r.test(path)) || ownSources.has(sourceOf.get(f.pkg) ?? "")) out.push(path);
  }
  return out.sort();
}
