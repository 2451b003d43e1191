/**
 * How a kiln image reaches a libvirt host: through libvirt's storage API, never a shared file system. kiln
 * keeps one directory pool on each host (KILN_POOL, made on first use), uploads the kernel and initrd into
 * it as volumes (vol-create-as + vol-upload), and the domain names the volumes' paths on that host. Volumes
 * named after content (the manifest's digests) are uploaded once per host; an upload goes to a `.part`
 * volume first and is cloned to its name only when complete, so a volume of that name is always whole.
 * Locally this also settles permissions: libvirt gives its QEMU the pool's files, whoever owns kiln's home.
 */
import { stat } from "node:fs/promises";
import type { Virsh } from "./virsh.js";

export const KILN_POOL = "kiln";
/** Where kiln's pool lives on a host that has none yet (beside libvirt's own `images` pool). */
export const KILN_POOL_TARGET = "/var/lib/libvirt/kiln";

/** The pool's directory on the host, making and starting the pool first when needed. */
export async function ensurePool(v: Virsh): Promise<string> {
  const info = await v.try(["pool-info", KILN_POOL]);
  if (info.code !== 0) {
    const made = await v.try(["pool-define-as", KILN_POOL, "dir", "--target", KILN_POOL_TARGET]);
    // Another kiln may have defined it meanwhile: then it is there to start.
    if (made.code !== 0 && (await v.try(["pool-info", KILN_POOL])).code !== 0)
      await v.run(["pool-define-as", KILN_POOL, "dir", "--target", KILN_POOL_TARGET]);
    await v.run(["pool-build", KILN_POOL]);
  }
  const state = /^State:\s*(\S+)/m.exec((await v.run(["pool-info", KILN_POOL])).replace(/\r/g, ""));
  if (state?.[1] !== "running") {
    const r = await v.try(["pool-start", KILN_POOL]);
    if (r.code !== 0 && !/already active/i.test(r.stderr)) await v.run(["pool-start", KILN_POOL]);
  }
  const xml = await v.run(["pool-dumpxml", KILN_POOL]);
  const path = /<target>\s*<path>([^<]+)<\/path>/.exec(xml)?.[1];
  return path ? unescapeXml(path) : KILN_POOL_TARGET;
}

function unescapeXml(s: string): string {
  return s
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

async function volumeExists(v: Virsh, name: string): Promise<boolean> {
  return (await v.try(["vol-info", "--pool", KILN_POOL, name])).code === 0;
}

/** Upload `file` as volume `name` unless one of that name is there (names are content digests). */
export async function uploadVolume(
  v: Virsh,
  file: string,
  name: string,
  opts: { replace?: boolean } = {},
): Promise<void> {
  if (!opts.replace && (await volumeExists(v, name))) return;
  const size = (await stat(file)).size;
  const part = `${name}.part`;
  await deleteVolume(v, part);
  await v.run(["vol-create-as", KILN_POOL, part, String(size), "--format", "raw"]);
  try {
    await v.run(["vol-upload", "--pool", KILN_POOL, part, file], { timeoutMs: 600_000 });
    if (opts.replace) await deleteVolume(v, name);
    const cloned = await v.try(["vol-clone", "--pool", KILN_POOL, part, name]);
    // Someone else's upload of the same content won the race: theirs is as good.
    if (cloned.code !== 0 && !(await volumeExists(v, name)))
      await v.run(["vol-clone", "--pool", KILN_POOL, part, name]);
  } finally {
    await deleteVolume(v, part);
  }
}

/** An empty volume (a console file the domain writes). */
export async function createEmptyVolume(v: Virsh, name: string): Promise<void> {
  await deleteVolume(v, name);
  await v.run(["vol-create-as", KILN_POOL, name, "0", "--format", "raw"]);
}

export async function deleteVolume(v: Virsh, name: string): Promise<void> {
  await v.try(["vol-delete", "--pool", KILN_POOL, name]);
}

/** `length` bytes (all that follows, when absent) of a volume from `offset`, through libvirt's stream. */
export async function downloadVolume(v: Virsh, name: string, to: string, offset: number): Promise<boolean> {
  const r = await v.try(["vol-download", "--pool", KILN_POOL, name, to, "--offset", String(offset)]);
  return r.code === 0;
}
