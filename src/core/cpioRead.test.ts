import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeCpio } from "../bake/cpio.js";
import { readCpio } from "./cpioRead.js";

/** A tree with every kind of entry cpio stores, archived by Debian's own cpio. */
function debianArchive(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "kiln-cpioread-"));
  try {
    mkdirSync(join(dir, "bin"));
    mkdirSync(join(dir, "lib/modules/6.1/kernel"), { recursive: true });
    writeFileSync(join(dir, "init"), "#!/bin/sh\nexec /bin/hello\n", { mode: 0o755 });
    writeFileSync(join(dir, "bin/hello"), Buffer.alloc(5003, 0xab), { mode: 0o750 });
    writeFileSync(join(dir, "lib/modules/6.1/kernel/virtio.ko"), "\x7fELF module");
    writeFileSync(join(dir, "empty"), "");
    writeFileSync(join(dir, "name with spaces é"), "x");
    linkSync(join(dir, "bin/hello"), join(dir, "bin/hello-hardlink"));
    symlinkSync("../bin/hello", join(dir, "lib/hello-link"));
    const list = execFileSync("find", [".", "-print0"], { cwd: dir });
    return execFileSync("cpio", ["-o", "-H", "newc", "--null", "--quiet"], { cwd: dir, input: list });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("reads what Debian's cpio -o -H newc writes: files, directories, symlinks, hard links, modes", () => {
  const entries = readCpio(debianArchive());
  const by = new Map(entries.map((e) => [e.path, e]));
  assert.deepEqual([...by.keys()].sort(), [
    "/",
    "/bin",
    "/bin/hello",
    "/bin/hello-hardlink",
    "/empty",
    "/init",
    "/lib",
    "/lib/hello-link",
    "/lib/modules",
    "/lib/modules/6.1",
    "/lib/modules/6.1/kernel",
    "/lib/modules/6.1/kernel/virtio.ko",
    "/name with spaces é",
  ]);
  assert.equal(by.get("/init")!.data.toString(), "#!/bin/sh\nexec /bin/hello\n");
  assert.equal(by.get("/init")!.perm, 0o755);
  assert.equal(by.get("/bin/hello")!.perm, 0o750);
  assert.deepEqual(by.get("/bin/hello")!.data, Buffer.alloc(5003, 0xab));
  // cpio stores a hard-linked file's data once; both names must still show it.
  assert.deepEqual(by.get("/bin/hello-hardlink")!.data, Buffer.alloc(5003, 0xab));
  assert.equal(by.get("/bin/hello-hardlink")!.nlink, 2);
  assert.equal(by.get("/lib/hello-link")!.type, "symlink");
  assert.equal(by.get("/lib/hello-link")!.target, "../bin/hello");
  assert.equal(by.get("/lib")!.type, "dir");
  assert.equal(by.get("/empty")!.size, 0);
  assert.equal(by.get("/lib/modules/6.1/kernel/virtio.ko")!.data.toString(), "\x7fELF module");
});

test("reads kiln's own writer back exactly, and concatenated archives one after another", () => {
  const a = writeCpio([
    { path: "/init", mode: 0o755, data: Buffer.from("init") },
    { path: "/kiln/image.json", data: Buffer.from("{}\n") },
    { path: "/lib/l", type: "symlink", target: "/init" },
  ]);
  const b = writeCpio([{ path: "/kiln/extra.json", data: Buffer.from('{"v":1}') }]);
  const entries = readCpio(Buffer.concat([a, Buffer.alloc(512), b]));
  assert.deepEqual(
    entries.map((e) => [e.path, e.type, e.type === "file" ? e.data.toString() : (e.target ?? "")]),
    [
      ["/init", "file", "init"],
      ["/kiln", "dir", ""],
      ["/kiln/image.json", "file", "{}\n"],
      ["/lib", "dir", ""],
      ["/lib/l", "symlink", "/init"],
      ["/kiln", "dir", ""],
      ["/kiln/extra.json", "file", '{"v":1}'],
    ],
  );
  // cpio -it agrees on the entries of the first archive.
  const listed = execFileSync("cpio", ["-it", "--quiet"], { input: a }).toString().trim().split("\n");
  assert.deepEqual(
    listed,
    entries.slice(0, 5).map((e) => e.path.slice(1)),
  );
});

test("bad archives fail with the offset and the reason", () => {
  const good = writeCpio([{ path: "/a", data: Buffer.alloc(100, 1) }]);
  const code = { code: "KILN_ECPIO_INVALID" };
  assert.throws(() => readCpio(good.subarray(0, 150), "t"), { ...code, message: /truncated data of "a"/ });
  assert.throws(() => readCpio(good.subarray(0, 60), "t"), { ...code, message: /truncated header/ });
  assert.throws(() => readCpio(Buffer.from("not a cpio archive at all"), "t"), {
    ...code,
    message: /bad magic/,
  });
  assert.throws(() => readCpio(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), "t"), { ...code, message: /gzip/ });
  const unterminated = Buffer.from(good);
  unterminated.write("b", 111, "latin1"); // "a\0" becomes "ab"
  assert.throws(() => readCpio(unterminated, "t"), { ...code, message: /not NUL-terminated/ });
  const climb = writeCpio([{ path: "/x/y", data: Buffer.from("z") }]);
  climb.write("../", climb.indexOf("x/y\0"), "latin1");
  assert.throws(() => readCpio(climb, "t"), { ...code, message: /"..\/" leaves the archive/ });
});
