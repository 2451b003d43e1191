/**
 * A deterministic tar writer over tar-stream: entries sorted by name, one fixed mtime, numeric owners
 * given by the caller (root by default), no host user names, paths or times. File bodies come from memory
 * or stream from a range of a file, so large disks are never held in memory.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack } from "tar-stream";

export interface TarEntry {
  /** Relative path with `/` separators (a `./` prefix is kept as given). */
  name: string;
  type?: "file" | "directory" | "symlink";
  /** Permission bits; default 0644 for files, 0755 for directories, 0777 for symlinks. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  data?: Uint8Array;
  /** Or the body is `size` bytes of this file from `offset`. */
  path?: string;
  offset?: number;
  size?: number;
  linkname?: string;
}

export interface TarOptions {
  /** Seconds since the epoch for every entry (default 0). */
  mtime?: number;
}

/** The entries' tar stream (not compressed). Duplicate names are a programming error. */
export function tarStream(entries: readonly TarEntry[], opts: TarOptions = {}): Readable {
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.name === sorted[i - 1]!.name) throw new Error(`tar entry ${sorted[i]!.name} given twice`);
  }
  const mtime = new Date((opts.mtime ?? 0) * 1000);
  const pack = tarPack();
  const fill = async () => {
    for (const e of sorted) {
      const type = e.type ?? "file";
      const common = {
        mtime,
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        uname: e.uname ?? "",
        gname: e.gname ?? "",
      };
      if (type === "directory") {
        const name = e.name.endsWith("/") ? e.name : `${e.name}/`;
        pack.entry({ ...common, name, type, mode: e.mode ?? 0o755 });
      } else if (type === "symlink") {
        pack.entry({ ...common, name: e.name, type, mode: e.mode ?? 0o777, linkname: e.linkname ?? "" });
      } else if (e.data) {
        await new Promise<void>((res, rej) =>
          pack.entry(
            { ...common, name: e.name, type, mode: e.mode ?? 0o644, size: e.data!.length },
            Buffer.from(e.data!.buffer, e.data!.byteOffset, e.data!.length),
            (err) => (err ? rej(err) : res()),
          ),
        );
      } else if (e.path !== undefined && e.size !== undefined) {
        if (e.size === 0) {
          await new Promise<void>((res, rej) =>
            pack.entry(
              { ...common, name: e.name, type, mode: e.mode ?? 0o644, size: 0 },
              Buffer.alloc(0),
              (err) => (err ? rej(err) : res()),
            ),
          );
          continue;
        }
        const sink = pack.entry({ ...common, name: e.name, type, mode: e.mode ?? 0o644, size: e.size });
        const start = e.offset ?? 0;
        await pipeline(
          createReadStream(e.path, { start, end: start + e.size - 1 }),
          sink as unknown as NodeJS.WritableStream,
        );
      } else {
        throw new Error(`tar entry ${e.name} has no body`);
      }
    }
    pack.finalize();
  };
  fill().catch((err: Error) => pack.destroy(err));
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

/** The whole tar in memory (for small archives: deb control, OCI configs). */
export async function tarBuffer(entries: readonly TarEntry[], opts: TarOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarStream(entries, opts)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
