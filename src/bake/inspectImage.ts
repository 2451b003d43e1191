import { stat } from "node:fs/promises";
import { imageDamage, readImage } from "../manifest/imageManifest.js";

/**
 * What `kiln inspect IMAGE` shows: the manifest, with the sizes of the parts as they are on disk, and
 * whether they are still what the manifest says (where every other verb refuses a changed image, inspect
 * reports what changed).
 */
export async function inspectImage(dir: string, opts: { env?: NodeJS.ProcessEnv } = {}) {
  const img = await readImage(dir);
  const m = img.manifest;
  const [k, i, damage] = await Promise.all([stat(img.kernel), stat(img.initrd), imageDamage(img, opts)]);
  return {
    image: dir,
    intact: damage.length === 0,
    ...(damage.length ? { damage } : {}),
    name: m.name,
    platform: m.platform,
    kernel: {
      kind: m.kernel.kind,
      release: m.kernel.release,
      format: m.kernel.format,
      size: k.size,
      sha256: m.kernel.sha256,
      package: m.kernel.package,
      version: m.kernel.version,
    },
    initrd: { size: i.size, entries: m.initrd.entries, sha256: m.initrd.sha256 },
    totalSize: k.size + i.size,
    cmdline: m.cmdline,
    components: m.components,
    modules: m.modules.map((x) => x.name),
    programs: m.programs,
    files: m.files,
    init: m.init,
    config: m.config,
  };
}
