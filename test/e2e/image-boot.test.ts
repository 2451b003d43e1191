// Launchables boot the way their target systems boot them: by firmware from the medium, never -kernel.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { qemuArgsForLaunchable } from "../../src/image/bootLaunchable.js";
import { accelRequest, chooseAccel } from "../../src/launch/accel.js";
import { readImage } from "../../src/manifest/imageManifest.js";
import { runKiln, tmpDir } from "../helpers.js";
import { bootUntilExit, helloImage } from "./imageFixture.js";

let image = "";
let accel = "tcg";
const tmp = tmpDir("kiln-image-boot-");

before(async () => {
  image = await helloImage();
  const img = await readImage(image);
  accel = (await chooseAccel(accelRequest(process.env.KILN_ACCEL), "qemu-system-x86_64", img.kernel)).accel;
});
after(() => tmp.cleanup());

async function make(format: string, out: string): Promise<string> {
  const file = join(tmp.path, out);
  const r = await runKiln(["image", format, image, "-o", file, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).format, format);
  return file;
}

async function boots(file: string, want: { kind: string; machine: string; uefi?: boolean }): Promise<void> {
  const b = await qemuArgsForLaunchable(file, { uefi: want.uefi ?? false });
  assert.equal(b.kind, want.kind);
  assert.deepEqual(b.args.slice(0, 2), ["-M", want.machine]);
  assert.ok(!b.args.includes("-kernel"));
  const r = await bootUntilExit([...b.args, "-m", String(Math.max(256, b.memoryMinMB))], accel);
  assert.ok(r.ok, `no "kiln: exit 0" within the time limit (${accel}); console:\n${r.output.slice(-2000)}`);
}

test("raw-bios boots with SeaBIOS from a virtio disk (-M pc)", async () => {
  const file = await make("raw-bios", "hello-bios.img");
  await boots(file, { kind: "raw-bios", machine: "pc" });
});

test("iso boots with SeaBIOS from CD (El Torito, isolinux)", async () => {
  const file = await make("iso", "hello.iso");
  await boots(file, { kind: "iso", machine: "pc" });
});

test("raw-uefi boots with OVMF (-M q35, unified kernel image)", async () => {
  const file = await make("raw-uefi", "hello-uefi.img");
  const b = await qemuArgsForLaunchable(file);
  assert.ok(b.firmware && b.args.includes(b.firmware) && b.memoryMinMB >= 192);
  await boots(file, { kind: "raw-uefi", machine: "q35" });
});

test("qcow2 (the cloud disk) boots with SeaBIOS and with OVMF", async () => {
  const file = await make("qcow2", "hello.qcow2");
  await boots(file, { kind: "qcow2", machine: "pc" });
  await boots(file, { kind: "qcow2", machine: "q35", uefi: true });
});
