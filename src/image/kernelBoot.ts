/**
 * The `kernelboot` launchable: the container image KubeVirt's kernel boot pulls (spec.domain.firmware.
 * kernelBoot.container): an ordinary OCI image (amd64, linux) whose one layer holds the image's kernel and
 * initrd, byte for byte, at KERNEL_PATH and INITRD_PATH (mode 0444, owned by uid/gid 107, the qemu user
 * KubeVirt's virt-launcher runs as). KubeVirt copies them out and boots them directly, with the kernel
 * command line the VirtualMachine gives (src/image/kubevirt.ts): unlike a containerDisk, the launch-time
 * configuration travels there. Written as an oci-archive that `kiln push` sends; same image, same bytes.
 */
import { join } from "node:path";
import { silentProgress } from "../core/progress.js";
import type { Image } from "../manifest/imageManifest.js";
import { containerDiskArtifact, gzipLayer, QEMU_UID } from "./containerDisk.js";
import type { FormatOptions, LaunchableFormat, LaunchableResult } from "./format.js";
import { writeLaunchable } from "./launchableOutput.js";
import { writeOciArchive } from "./ociLayout.js";

export const KERNEL_PATH = "/boot/kernel";
export const INITRD_PATH = "/boot/initrd";

export const format: LaunchableFormat = {
  name: "kernelboot",
  description:
    "KubeVirt kernel boot container: OCI image with the kernel and initrd under /boot (oci-archive tar)",
  async make(image: Image, out: string, opts: FormatOptions): Promise<LaunchableResult> {
    const progress = opts.progress ?? silentProgress;
    const r = await writeLaunchable(out, opts, async (file, work) => {
      progress.step(`writing kernel boot container ${out}`);
      const layerPath = join(work, "layer.tar.gz");
      const part = (name: string, path: string, size: number) => ({
        name: name.slice(1),
        path,
        size,
        mode: 0o444,
        uid: QEMU_UID,
        gid: QEMU_UID,
      });
      const layer = await gzipLayer(
        [
          { name: "boot", type: "directory", mode: 0o755 },
          part(KERNEL_PATH, image.kernel, image.manifest.kernel.size),
          part(INITRD_PATH, image.initrd, image.manifest.initrd.size),
        ],
        layerPath,
      );
      const a = containerDiskArtifact(image, { path: layerPath, ...layer }, opts.name, "image kernelboot");
      await writeOciArchive(a, file);
      progress.done();
      return { digest: a.digest, layerDigest: layer.digest, layerBytes: layer.size };
    });
    return { format: "kernelboot", ...r };
  },
};
