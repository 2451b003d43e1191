import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { convertedDiskFormat } from "./convertedDisk.js";
import { FIXED_EPOCH } from "./hostTool.js";
import { sparseTar } from "./sparseTar.js";

/**
 * Google Compute Engine's import format: a gzipped GNU tar (oldgnu) holding one sparse file, disk.raw, whose
 * size is a whole number of GiB. Holes are zero blocks (not what the host filesystem reports), so the
 * archive does not depend on how the host stored the raw disk; gzip is zlib's (no name, time 0).
 */
export const format = convertedDiskFormat(
  "gce",
  "Google Compute Engine image (disk.raw in a .tar.gz) holding the BIOS+UEFI raw disk",
  async (raw, file) => {
    await pipeline(
      Readable.from(sparseTar(raw, "disk.raw", { mtime: FIXED_EPOCH })),
      createGzip({ level: 6 }),
      createWriteStream(file, { flags: "wx" }),
    );
    return { member: "disk.raw" };
  },
  { granularityMB: 1024 },
);
