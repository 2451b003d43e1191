// An image changed after baking is refused by everything that consumes it (every launchable format, launch,
// push): its kernel and initrd must be the bytes its manifest (and so its SBOM) describes, and files of the
// image, never symlinks out of it. kiln inspect reports instead of refusing. The digests are cached by the
// files' identity, and a change that keeps size and mtime is still caught (the ctime moves).
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { runKiln, tmpDir } from "../helpers.js";
import { helloImage } from "./imageFixture.js";

const FORMATS = [
  "raw-bios",
  "raw-uefi",
  "raw",
  "iso",
  "qcow2",
  "vmdk",
  "vhd",
  "gce",
  "oci",
  "containerdisk",
  "deb",
  "libvirt",
  "kubevirt",
  "kernelboot",
  "nomad",
];

const tmp = tmpDir("kiln-integrity-");
const home = join(tmp.path, "home");
let image = "";
before(async () => {
  image = await helloImage();
});
after(() => tmp.cleanup());

function copyImage(name: string): string {
  const dir = join(tmp.path, name);
  mkdirSync(dir);
  for (const f of readdirSync(image)) copyFileSync(join(image, f), join(dir, f));
  return dir;
}

async function corrupt(args: string[], what: RegExp): Promise<void> {
  const r = await runKiln([...args, "--json"]);
  assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  const e = JSON.parse(r.stdout).error;
  assert.equal(e.code, "KILN_EIMAGE_CORRUPT", `${args.join(" ")}: ${r.stdout}`);
  assert.match(e.message, what, args.join(" "));
  assert.match(e.hint, /bake .*again/);
}

test("an initrd replaced by a symlink to /etc/passwd: no launchable, no launch, no push", async () => {
  const dir = copyImage("symlinked");
  rmSync(join(dir, "initrd"));
  symlinkSync("/etc/passwd", join(dir, "initrd"));
  const out = join(tmp.path, "out");
  mkdirSync(out);
  for (const f of FORMATS)
    await corrupt(
      ["image", f, dir, "-o", join(out, `disk.${f}`)],
      /initrd .*symbolic link to "\/etc\/passwd"/,
    );
  assert.deepEqual(readdirSync(out), [], "no launchable, no temporary file");
  await corrupt(["launch", "qemu", "--dry-run", dir], /symbolic link/);
  // Refused before any registry is asked (nothing listens on port 1).
  await corrupt(["push", dir, "127.0.0.1:1/kiln/hello:1"], /symbolic link/);
});

test("a kernel whose bytes changed: refused by image and launch, reported by inspect", async () => {
  const dir = copyImage("changed-kernel");
  const k = readFileSync(join(dir, "kernel"));
  k[k.length - 4096] ^= 0xff;
  writeFileSync(join(dir, "kernel"), k);
  for (const f of ["raw-bios", "qcow2"]) {
    await corrupt(
      ["image", f, dir, "-o", join(tmp.path, `k.${f}`)],
      /kernel .* has sha256 [0-9a-f]{64}, but its manifest says/,
    );
    assert.ok(!existsSync(join(tmp.path, `k.${f}`)));
  }
  await corrupt(["launch", "qemu", "--dry-run", dir], /kernel/);
  const r = await runKiln(["inspect", dir, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.intact, false);
  assert.match(info.damage.join("\n"), /kernel .* has sha256/);
  const good = JSON.parse((await runKiln(["inspect", image, "--json"])).stdout);
  assert.equal(good.intact, true);
});

test("the digests are cached by the files' identity; a change that keeps size and mtime is still caught", async () => {
  const dir = copyImage("cached");
  const initrd = join(dir, "initrd");
  // A whole second, so that it can be set back exactly.
  utimesSync(initrd, 1_700_000_000, 1_700_000_000);
  const dry = () => runKiln(["launch", "qemu", "--dry-run", "--json", dir], { home });
  const first = await dry();
  assert.equal(first.code, 0, first.stderr);
  const cache = join(home, "cache", "digests.json");
  const entries = Object.values(JSON.parse(readFileSync(cache, "utf8")).entries) as { sha256: string }[];
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  for (const part of [manifest.kernel, manifest.initrd])
    assert.ok(
      entries.some((e) => e.sha256 === part.sha256),
      "kernel and initrd digests are cached",
    );
  assert.equal((await dry()).code, 0);
  // Same size, same mtime, other bytes: only the ctime tells.
  const st = statSync(initrd, { bigint: true });
  const b = readFileSync(initrd);
  b[b.length - 600] ^= 0xff;
  writeFileSync(initrd, b);
  utimesSync(initrd, 1_700_000_000, 1_700_000_000);
  assert.equal(statSync(initrd, { bigint: true }).mtimeNs, st.mtimeNs);
  const r = await dry();
  assert.equal(r.code, 1, r.stdout);
  assert.equal(JSON.parse(r.stdout).error.code, "KILN_EIMAGE_CORRUPT");
});
