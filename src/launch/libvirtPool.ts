/**
 * How a kiln image reaches a libvirt host: through libvirt's storage API, never a shared file system. kiln
 * keeps one directory pool on each host (KILN_POOL, made on first use), uploads the kernel and initrd into
 * it as volumes (vol-create-as + vol-upload), and the domain names the volumes' paths on that host. Volumes
 * named after content (the manifest's digests) are uploaded once per host, and count only once their
 * `.done` mark is there, so a volume an interrupted upload left is uploaded again.
 * Locally this also settles permissions: libvirt gives its QEMU the pool's files, whoever owns kiln's home.
 */
import { stat } from "node:fs/promises";
import type { Virsh } from "./virsh.js";

export const KILN_POOL = "kiln";
/** Where kiln's pool lives on a host that has none yet (beside libvirt's own `images` pool). */
export const KILN_POOL_TARGET = "/var/lib/libvirt/kiln";

/** The pool's directory on the host, making and starting the pool first when needed. */
export async function ensurePool(v: Virsh): Promise<string> {
  const known = await v.batch([
    ["pool-info", KILN_POOL],
    ["pool-dumpxml", KILN_POOL],
  ]);
  const [info = "", xml0 = ""] = known.outputs;
  if (/^State:\s*running/m.test(info.replace(/\r/g, ""))) return poolPath(xml0);
  if (!info) {
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
  return poolPath(await v.run(["pool-dumpxml", KILN_POOL]));
}

function poolPath(xml: string): string {
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

/** The empty volume that says `name` was uploaded whole. */
function doneMark(name: string): string {
  return `${name}.done`;
}

/** Which of these volumes the pool holds whole (one round trip). */
export async function volumesPresent(v: Virsh, names: string[]): Promise<Set<string>> {
  if (names.length === 0) return new Set();
  const r = await v.batch(
    names.flatMap((n) => [
      ["vol-path", "--pool", KILN_POOL, n],
      ["vol-path", "--pool", KILN_POOL, doneMark(n)],
    ]),
  );
  const has = (i: number) => (r.outputs[i] ?? "").trim() !== "";
  return new Set(names.filter((_, i) => has(2 * i) && has(2 * i + 1)));
}

/**
 * Upload `file` as volume `name` unless it is there whole (names are content digests); `present` says so
 * when the caller asked already. A volume is whole once its `.done` mark exists, made after the upload:
 * libvirt has no rename, and a clone would round the size up to a block.
 */
export async function uploadVolume(
  v: Virsh,
  file: string,
  name: string,
  opts: { replace?: boolean; present?: boolean } = {},
): Promise<void> {
  if (!opts.replace && (opts.present ?? (await volumesPresent(v, [name])).has(name))) return;
  const size = (await stat(file)).size;
  await v.batch([
    ["vol-delete", "--pool", KILN_POOL, doneMark(name)],
    ["vol-delete", "--pool", KILN_POOL, name],
  ]);
  await v.run(["vol-create-as", KILN_POOL, name, String(size), "--format", "raw"]);
  await v.run(["vol-upload", "--pool", KILN_POOL, name, file], { timeoutMs: 600_000 });
  if (!opts.replace) await v.run(["vol-create-as", KILN_POOL, doneMark(name), "0", "--format", "raw"]);
}

/** A new empty volume (a console file the domain writes), replacing one of that name; its path. */
export async function createEmptyVolume(v: Virsh, name: string): Promise<string> {
  const r = await v.batch([
    ["vol-delete", "--pool", KILN_POOL, name],
    ["vol-create-as", KILN_POOL, name, "0", "--format", "raw"],
    ["vol-path", "--pool", KILN_POOL, name],
  ]);
  const path = (r.outputs[2] ?? "").trim();
  if (!path) await v.run(["vol-create-as", KILN_POOL, name, "0", "--format", "raw"]); // says why it cannot
  return path;
}

export async function deleteVolume(v: Virsh, name: string): Promise<void> {
  await v.batch([
    ["vol-delete", "--pool", KILN_POOL, name],
    ["vol-delete", "--pool", KILN_POOL, doneMark(name)],
  ]);
}

/** The command that downloads what a volume holds from `offset` on, through libvirt's stream, into `to`. */
export function downloadCommand(name: string, to: string, offset: number): string[] {
  return ["vol-download", "--pool", KILN_POOL, name, to, "--offset", String(offset)];
}
