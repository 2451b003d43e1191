// Bad input to `kiln image`: a clear KILN_E error and nothing left behind, an existing output untouched.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { qemuArgsForLaunchable } from "../../src/image/bootLaunchable.js";
import { runKiln, tmpDir } from "../helpers.js";
import { helloImage } from "./imageFixture.js";

let image = "";
const tmp = tmpDir("kiln-image-errors-");
before(async () => {
  image = await helloImage();
});
after(() => tmp.cleanup());

async function fails(
  args: string[],
  want: { code: string; exit: number; message?: RegExp; hint?: RegExp },
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const dir = join(tmp.path, want.code + Math.random().toString(36).slice(2, 8));
  mkdirSync(dir);
  const out = join(dir, "out.img");
  writeFileSync(out, "the previous launchable");
  // --force: the file is not kiln's, and even a replacement it asked for must leave it whole on failure.
  const r = await runKiln(["image", ...args.map((a) => (a === "OUT" ? out : a)), "--force", "--json"], {
    env,
  });
  assert.equal(r.code, want.exit, r.stdout + r.stderr);
  const e = JSON.parse(r.stdout).error;
  assert.equal(e.code, want.code);
  if (want.message) assert.match(e.message, want.message);
  if (want.hint) assert.match(e.hint, want.hint);
  assert.deepEqual(readdirSync(dir), ["out.img"], "no partial output or work directory left");
  assert.equal(readFileSync(out, "utf8"), "the previous launchable");
}

test("unknown format: usage error listing the known ones", async () => {
  await fails(["floppy", image, "-o", "OUT"], {
    code: "KILN_EFORMAT_UNKNOWN",
    exit: 2,
    message: /"floppy"/,
    hint: /raw-bios, raw-uefi.*qcow2/,
  });
});

test("image too large for --size: names both sizes", async () => {
  await fails(["raw-bios", image, "-o", "OUT", "--size", "8"], {
    code: "KILN_EDISK_TOO_SMALL",
    exit: 2,
    message: /disk of 8 MiB: it needs at least \d+ MiB/,
  });
  await fails(["qcow2", image, "-o", "OUT", "--size", "10"], { code: "KILN_EDISK_TOO_SMALL", exit: 2 });
});

test("bad --size values", async () => {
  await fails(["raw-bios", image, "-o", "OUT", "--size", "1.5"], { code: "KILN_ESIZE_INVALID", exit: 2 });
  await fails(["gce", image, "-o", "OUT", "--size", "1500"], {
    code: "KILN_ESIZE_INVALID",
    exit: 2,
    hint: /--size 2048/,
  });
  await fails(["iso", image, "-o", "OUT", "--size", "64"], { code: "KILN_ESIZE_UNSUPPORTED", exit: 2 });
});

test("missing firmware: names the file and the Debian package", async () => {
  await fails(
    ["raw-uefi", image, "-o", "OUT"],
    { code: "KILN_EFIRMWARE_MISSING", exit: 1, message: /"\/nonexistent\/stub.efi"/, hint: /KILN_EFI_STUB/ },
    { KILN_EFI_STUB: "/nonexistent/stub.efi" },
  );
  await fails(
    ["raw-bios", image, "-o", "OUT"],
    { code: "KILN_EFIRMWARE_MISSING", exit: 1, message: /"\/nowhere\/mbr\/mbr.bin"/, hint: /syslinux/ },
    { KILN_SYSLINUX_DIR: "/nowhere" },
  );
  await fails(
    ["iso", image, "-o", "OUT"],
    { code: "KILN_EFIRMWARE_MISSING", exit: 1, message: /isolinux.bin/ },
    { KILN_ISOLINUX_DIR: "/nowhere" },
  );
});

test("a failure part-way (the EFI stub is not a PE image) leaves nothing behind", async () => {
  const bad = join(tmp.path, "not-a-stub.efi");
  writeFileSync(bad, "MZ but nothing else".padEnd(4096, "\0"));
  await fails(["raw", image, "-o", "OUT"], { code: "KILN_EPE_INVALID", exit: 1 }, { KILN_EFI_STUB: bad });
});

test("output in a missing directory, output that is a directory, image that is not one", async () => {
  const r = await runKiln([
    "image",
    "raw-bios",
    image,
    "-o",
    join(tmp.path, "no", "such", "x.img"),
    "--json",
  ]);
  assert.equal(r.code, 2);
  assert.equal(JSON.parse(r.stdout).error.code, "KILN_EOUT_DIR_MISSING");
  assert.ok(!existsSync(join(tmp.path, "no")));
  const d = join(tmp.path, "adir");
  mkdirSync(d);
  const r2 = await runKiln(["image", "raw-bios", image, "-o", d, "--json"]);
  assert.equal(JSON.parse(r2.stdout).error.code, "KILN_EOUT_IS_DIR");
  assert.deepEqual(readdirSync(d), []);
  await fails(["raw-bios", join(tmp.path, "nothing-here"), "-o", "OUT"], {
    code: "KILN_EIMAGE_NOT_FOUND",
    exit: 1,
  });
});

test("qemuArgsForLaunchable refuses a file it cannot boot", async () => {
  const f = join(tmp.path, "random.bin");
  writeFileSync(f, Buffer.alloc(70000, 7));
  await assert.rejects(qemuArgsForLaunchable(f), { code: "KILN_ELAUNCHABLE_UNKNOWN" });
  await assert.rejects(qemuArgsForLaunchable(join(tmp.path, "missing.img")), {
    code: "KILN_ELAUNCHABLE_NOT_FOUND",
  });
});
