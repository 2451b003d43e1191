import { stat } from "node:fs/promises";
import { readImage } from "../manifest/imageManifest.js";

/** What `kiln inspect IMAGE` shows: the manifest, with the sizes of the parts as they are on disk. */
export async function inspectImage(dir: string) {
  const img = await readImage(dir);
  const m = img.manifest;
  const [k, i] = await Promise.all([stat(img.kernel), stat(img.initrd)]);
  return {
    image: dir,
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
