// The bzImage reader on bzImages assembled here around a small ELF, compressed by the Debian tools the
// kernel's Makefiles use (gzip, xz, lz4 -l, zstd). Debian's real kernel is taken apart in
// test/e2e/launch-dryrun.test.ts and checked with readelf.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { bzImageElf, bzImagePayload, bzImageRecordedSize } from "./bzImage.js";
import type { KilnError } from "./errors.js";

const ELF = readFileSync("/bin/true");

/** A bzImage as the kernel's build lays it out: setup sectors, then the payload and its 4-byte size. */
function bzImage(
  payload: Buffer,
  size = ELF.length,
  opts: { protocol?: number; offset?: number } = {},
): Buffer {
  const setupSects = 2;
  const start = (setupSects + 1) * 512 + (opts.offset ?? 0x200);
  const buf = Buffer.alloc(start + payload.length + 4 + 16);
  buf[0x1f1] = setupSects;
  buf.writeUInt16LE(0xaa55, 0x1fe);
  buf.write("HdrS", 0x202, "latin1");
  buf.writeUInt16LE(opts.protocol ?? 0x20f, 0x206);
  buf.writeUInt32LE(opts.offset ?? 0x200, 0x248);
  buf.writeUInt32LE(payload.length + 4, 0x24c);
  payload.copy(buf, start);
  buf.writeUInt32LE(size, start + payload.length);
  return buf;
}

function tool(cmd: string, args: string[], input: Buffer): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 1 << 28 });
}

const invalid = (re: RegExp) => (e: KilnError) => e.code === "KILN_EKERNEL_INVALID" && re.test(e.message);

describe("bzImage", () => {
  for (const [name, compress] of [
    ["gzip", (b: Buffer) => gzipSync(b)],
    ["xz", (b: Buffer) => tool("xz", ["-c", "--check=crc32", "--x86", "--lzma2=preset=6"], b)],
    ["lz4", (b: Buffer) => tool("lz4", ["-l", "-9", "-c"], b)],
    ["zstd", (b: Buffer) => tool("zstd", ["-19", "-c"], b)],
  ] as const) {
    it(`takes the ELF out of a ${name} payload, byte for byte`, async () => {
      const img = bzImage(compress(ELF));
      assert.equal(bzImagePayload(img, "k").compression, name);
      assert.ok((await bzImageElf(img, "k")).equals(ELF));
    });
  }

  it("refuses what is not a bzImage, or one whose payload is damaged, lies or is no ELF", async () => {
    assert.throws(
      () => bzImagePayload(ELF, "/bin/true"),
      invalid(/"\/bin\/true" .*no boot sector signature/),
    );
    assert.throws(
      () => bzImagePayload(bzImage(gzipSync(ELF), ELF.length, { protocol: 0x206 }), "k"),
      invalid(/2\.08/),
    );
    const big = bzImage(gzipSync(ELF));
    big.writeUInt32LE(big.length, 0x24c);
    assert.throws(() => bzImagePayload(big, "k"), invalid(/outside the file/));
    assert.throws(
      () => bzImagePayload(bzImage(Buffer.from("plain text")), "k"),
      invalid(/unknown payload compression/),
    );
    await assert.rejects(
      bzImageElf(bzImage(gzipSync(ELF), ELF.length + 1), "k"),
      invalid(/not the \d+ it records/),
    );
    const xz = tool("xz", ["-c", "--check=crc32"], ELF);
    xz.writeUInt8(xz.readUInt8(xz.length >> 1) ^ 0xff, xz.length >> 1);
    await assert.rejects(bzImageElf(bzImage(xz), "k"), invalid(/xz/));
    const text = Buffer.from("not an ELF file at all");
    await assert.rejects(bzImageElf(bzImage(gzipSync(text), text.length), "k"), invalid(/not an ELF/));
  });

  it("reads the recorded size from the file's header and payload end alone", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kiln-bzimage-"));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "bzImage");
    writeFileSync(file, bzImage(gzipSync(ELF), 123456));
    assert.equal(await bzImageRecordedSize(file), 123456);
    writeFileSync(file, ELF);
    await assert.rejects(bzImageRecordedSize(file), invalid(/no boot sector signature/));
    writeFileSync(file, bzImage(gzipSync(ELF)).subarray(0, 2000));
    await assert.rejects(bzImageRecordedSize(file), invalid(/outside the file/));
  });
});
