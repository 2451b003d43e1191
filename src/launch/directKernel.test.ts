// The launcher's cache of ELF kernels taken out of bzImages: made once, reused, made again when damaged, a
// bzImage without a PVH entry remembered as such, and only the most recently used kept.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import type { Image } from "../manifest/imageManifest.js";
import { directKernel, hasPvhEntry } from "./directKernel.js";

const work = mkdtempSync(join(tmpdir(), "kiln-direct-"));
after(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, KILN_HOME: join(work, "home") };

/** A small ELF, with or without the PVH entry note (owner "Xen", type 18) that vmlinux carries. */
function elf(name: string, pvh: boolean): Buffer {
  const s = join(work, `${name}.s`);
  const note = pvh ? '.section .note.Xen,"a",@note\n.long 4, 8, 18\n.asciz "Xen"\n.quad 0x1000000\n' : "";
  writeFileSync(s, `.text\n.globl _start\n_start: hlt\n.ascii "${name}"\n${note}`);
  execFileSync("as", ["-o", `${s}.o`, s]);
  execFileSync("ld", ["-o", `${s}.elf`, `${s}.o`]);
  return readFileSync(`${s}.elf`);
}

/** An image directory whose kernel is a bzImage around `payload` (gzip by default, as CONFIG_KERNEL_GZIP makes it). */
function image(name: string, payload: Buffer, compress = (b: Buffer) => gzipSync(b)): Image {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const z = compress(payload);
  const buf = Buffer.alloc(5 * 512 + z.length + 4);
  buf[0x1f1] = 4;
  buf.writeUInt16LE(0xaa55, 0x1fe);
  buf.write("HdrS", 0x202, "latin1");
  buf.writeUInt16LE(0x20f, 0x206);
  buf.writeUInt32LE(0, 0x248);
  buf.writeUInt32LE(z.length + 4, 0x24c);
  z.copy(buf, 5 * 512);
  buf.writeUInt32LE(payload.length, 5 * 512 + z.length);
  const kernel = join(dir, "kernel");
  writeFileSync(kernel, buf);
  const sha256 = execFileSync("sha256sum", [kernel], { encoding: "utf8" }).slice(0, 64);
  return {
    dir,
    kernel,
    initrd: join(dir, "initrd"),
    manifest: { name, kernel: { file: "kernel", format: "bzimage", sha256, size: buf.length } },
  } as unknown as Image;
}

describe("direct kernel", () => {
  it("takes the PVH ELF out once, reuses it, and makes it again when the cached copy is damaged", async () => {
    const vmlinux = elf("one", true);
    assert.ok(hasPvhEntry(vmlinux, "one"));
    const img = image("one", vmlinux);
    const path = (await directKernel(img, env)) ?? assert.fail("no direct kernel");
    assert.ok(path.startsWith(join(env.KILN_HOME, "cache", "kernels")));
    assert.ok(readFileSync(path).equals(vmlinux));
    const made = statSync(path).ino;
    assert.equal(await directKernel(img, env), path);
    assert.equal(statSync(path).ino, made);
    writeFileSync(path, "torn");
    assert.equal(await directKernel(img, env), path);
    assert.ok(readFileSync(path).equals(vmlinux));
  });

  it("a kernel without a PVH entry boots as the bzImage; an ELF image kernel is used as it is", async () => {
    const plain = elf("plain", false);
    assert.ok(!hasPvhEntry(plain, "plain"));
    const img = image("plain", plain);
    assert.equal(await directKernel(img, env), undefined);
    assert.equal(await directKernel(img, env), undefined);
    const asElf = {
      ...img,
      manifest: { ...img.manifest, kernel: { ...img.manifest.kernel, format: "elf" } },
    };
    assert.equal(await directKernel(asElf as Image, env), img.kernel);
  });

  it("without the tool that decompresses the payload, the bzImage boots as it is and nothing is cached", async () => {
    const img = image("lz4", elf("lz4", true), (b) => execFileSync("lz4", ["-l", "-c"], { input: b }));
    const empty = join(work, "empty-path");
    mkdirSync(empty, { recursive: true });
    assert.equal(await directKernel(img, { ...env, PATH: empty }), undefined);
    assert.ok(
      !readdirSync(join(env.KILN_HOME, "cache", "kernels")).some((f) =>
        f.startsWith(img.manifest.kernel.sha256),
      ),
    );
    assert.ok((await directKernel(img, env))?.endsWith(`${img.manifest.kernel.sha256}.elf`));
  });

  it("keeps the eight most recently used kernels", async () => {
    const dir = join(env.KILN_HOME, "cache", "kernels");
    const first = await directKernel(image("k0", elf("k0", true)), env);
    for (let n = 1; n <= 9; n++) await directKernel(image(`k${n}`, elf(`k${n}`, true)), env);
    const kept = readdirSync(dir).filter((f) => f.endsWith(".elf"));
    assert.equal(kept.length, 8);
    assert.ok(!kept.includes(first!.slice(dir.length + 1)));
  });
});
