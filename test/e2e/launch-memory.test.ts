// -M follows the image (src/launch/imageMemory.ts): real QEMU boots of the stock kernel. An image whose
// initrd carries 40 MB needs about 150 MiB to boot, more than the old fixed default of 128: it boots with
// the default, and with too little memory given explicitly fails with the kernel's own line quoted.
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runKiln } from "../helpers.js";
import { bakeImage, helloProgram, WORK } from "./fixtures.js";

const DIR = join(WORK, "launch-memory");

describe("launch memory", () => {
  let hello = "";
  let big = "";
  before(async () => {
    mkdirSync(DIR, { recursive: true });
    const program = await helloProgram();
    hello = await bakeImage(join(DIR, "hello"), [program]);
    // Random bytes: nothing in the path compresses them away.
    const blob = join(DIR, "blob");
    const bytes = Buffer.alloc(40 * 1024 * 1024);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    writeFileSync(blob, bytes);
    big = await bakeImage(join(DIR, "big"), [program, "--add", `${blob}:/data/blob`]);
  });
  after(() => rmSync(DIR, { recursive: true, force: true }));

  const memoryOf = async (image: string, extra: string[] = []) => {
    const r = await runKiln(["launch", "qemu", "--dry-run", "--json", ...extra, image]);
    assert.equal(r.code, 0, r.stderr);
    const cmd = JSON.parse(r.stdout).command as string[];
    return Number(cmd[cmd.indexOf("-m") + 1]);
  };

  test("the default memory follows the image, and boots it", async () => {
    const small = await memoryOf(hello);
    const large = await memoryOf(big);
    assert.ok(large > 128 && large >= small + 3 * 40, `${large} MiB for 40 MB more initrd than ${small}`);
    assert.equal(await memoryOf(big, ["-M", "512"]), 512, "-M wins over the image's default");
    const r = await runKiln(["launch", "qemu", "--rm", big], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
    assert.match(r.stdout, /Hello from kiln!/);
  });

  test("too little memory given explicitly: the kernel's out-of-memory line, quoted, with -M in the hint", async () => {
    const r = await runKiln(["launch", "qemu", "--rm", "-M", "96", "--json", big], { timeoutMs: 240_000 });
    assert.equal(r.code, 1, r.stderr);
    const { error } = JSON.parse(r.stdout.slice(r.stdout.indexOf('{\n  "error"')));
    assert.equal(error.code, "KILN_EMEMORY_TOO_SMALL");
    assert.match(error.message, /-M 96/);
    assert.match(error.message, /"(Kernel panic - not syncing: .*memory|Initramfs unpacking failed: .*)"/);
    assert.match(error.hint, /-M/);
  });

  test("below what the kernel needs to start, nothing boots: refused as a usage error", async () => {
    const r = await runKiln(["launch", "qemu", "--rm", "-M", "32", hello]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /KILN_EMEMORY_TOO_SMALL: .*-M 32.*kernel needs \d+ MiB/);
    assert.match(r.stderr, /hint: .*-M/);
  });
});
