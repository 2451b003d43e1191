/**
 * The kernel as an ELF file with a PVH entry, for the loaders that can start one directly (QEMU -kernel,
 * Firecracker, Xen PVH). Images carry a bzImage, which is small and boots anywhere; its payload is that ELF,
 * compressed. Taken out once and kept in the cache, it saves each boot the decompressor: under software
 * emulation that is most of a small kernel's boot, and a good part of the stock kernel's.
 *
 * Cache: cache/kernels/<sha256 of the bzImage, from the manifest>.elf, written atomically; a file whose size
 * is not the one the bzImage records is made again. Only the most recently used few are kept.
 */
import { readFile, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic.js";
import { bzImageElf, bzImageRecordedSize } from "../core/bzImage.js";
import { parseElf } from "../core/elf.js";
import type { KilnError } from "../core/errors.js";
import { keepNewest } from "../core/keepNewest.js";
import { paths } from "../core/paths.js";
import type { Image } from "../manifest/imageManifest.js";

/** XEN_ELFNOTE_PHYS32_ENTRY: the note that makes a vmlinux bootable by PVH (arch/x86/platform/pvh). */
const PVH_NOTE = { name: "Xen", type: 18 };
const KEEP = 8;

export function hasPvhEntry(elf: Buffer, label: string): boolean {
  return parseElf(elf, label).notes.some((n) => n.name === PVH_NOTE.name && n.type === PVH_NOTE.type);
}

/**
 * The path of the image's kernel as a PVH ELF, or undefined when it has none (a bzImage built without PVH,
 * whose decompressor must run). Errors in a damaged bzImage are thrown: booting it would fail too.
 */
export async function directKernel(image: Image, env?: NodeJS.ProcessEnv): Promise<string | undefined> {
  const k = image.manifest.kernel;
  if (k.format === "elf") return image.kernel;
  const dir = join(paths.cache(env), "kernels");
  const cached = join(dir, `${k.sha256}.elf`);
  const noPvh = join(dir, `${k.sha256}.no-pvh`);
  const size = await bzImageRecordedSize(image.kernel);
  const now = new Date();
  const have = await stat(cached).catch(() => undefined);
  if (have?.size === size) {
    await utimes(cached, now, now).catch(() => {});
    return cached;
  }
  if (await stat(noPvh).catch(() => undefined)) return undefined;
  const buf = await readFile(image.kernel);
  let elf: Buffer;
  try {
    elf = await bzImageElf(buf, image.kernel, env);
  } catch (e) {
    // Without the decompressing tool (lz4 for Debian's kernel), the bzImage still boots, only slower.
    if ((e as KilnError).code === "KILN_ETOOL_MISSING") return undefined;
    throw e;
  }
  if (!hasPvhEntry(elf, image.kernel)) {
    await writeFileAtomic(noPvh, "");
    return undefined;
  }
  await writeFileAtomic(cached, elf);
  // Each is tens of MB for the stock kernel.
  await keepNewest(dir, { suffix: ".elf", keep: KEEP });
  return cached;
}
