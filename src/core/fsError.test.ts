import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { KilnError } from "./errors.js";
import { fsError, isFsError, missingOr } from "./fsError.js";

function errno(code: string, props: Record<string, unknown> = {}): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, ${props.syscall ?? "open"}`), {
    code,
    errno: -1,
    ...props,
  });
}

test("errno codes map to stable KILN_E codes naming the path", () => {
  const cases: [string, string, number, RegExp][] = [
    ["ENOENT", "KILN_ENOENT", 2, /no such file/],
    ["EACCES", "KILN_EACCES", 1, /permission denied/],
    ["EPERM", "KILN_EACCES", 1, /not permitted/],
    ["ENOSPC", "KILN_ENOSPC", 1, /no space left/],
    ["EDQUOT", "KILN_ENOSPC", 1, /quota/],
    ["EROFS", "KILN_EROFS", 1, /read-only/],
    ["EISDIR", "KILN_EISDIR", 2, /directory/],
    ["ELOOP", "KILN_ELOOP", 2, /symbolic links/],
    ["EIO", "KILN_EIO", 1, /input\/output/],
    ["EWHATEVER", "KILN_EFS", 1, /EWHATEVER/],
  ];
  for (const [code, kiln, exit, said] of cases) {
    const e = fsError(errno(code, { path: "/data/x.bin", syscall: "open" }));
    assert.ok(e instanceof KilnError, code);
    assert.equal(e.code, kiln, code);
    assert.equal(e.exitCode, exit, code);
    assert.match(e.message, /"\/data\/x\.bin"/, code);
    assert.match(e.message, said, code);
    assert.ok(e.hint.length > 0);
  }
});

test("a write to a temporary file beside the destination names the destination", () => {
  const e = fsError(errno("ENOSPC", { path: "/mnt/.out.tmp-123-0a1b2c3d/initrd", syscall: "write" }));
  assert.ok(e instanceof KilnError);
  assert.equal(e.message, 'Cannot write "/mnt/out/initrd": no space left on the device');
  const part = fsError(errno("ENOSPC", { syscall: "write" }), "/mnt/.kernel.part-9-deadbeef");
  assert.match((part as KilnError).message, /"\/mnt\/kernel"/);
  // The names core/scratchName.ts gives now: pid, start time, boot id, random; .old for a moved-aside output.
  const owned = fsError(
    errno("ENOSPC", { syscall: "write" }),
    "/mnt/.img.tmp-77-12345-0badf00d-1234abcd/initrd",
  );
  assert.match((owned as KilnError).message, /"\/mnt\/img\/initrd"/);
  const old = fsError(
    errno("EACCES", { path: "/mnt/.img.tmp-77-12345-0badf00d-1234abcd.old", syscall: "rename" }),
  );
  assert.match((old as KilnError).message, /"\/mnt\/img"/);
});

test("a copy onto a full disk names the destination, not the source", async () => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-fserror-"));
  try {
    await writeFile(join(dir, "src"), "x");
    const real = await copyFile(join(dir, "src"), join(dir, "nope", "dest")).catch((e: unknown) => e);
    assert.equal((fsError(real) as KilnError).code, "KILN_ENOENT");
    const full = errno("ENOSPC", { path: "/store/kernel", dest: "/mnt/out/kernel", syscall: "copyfile" });
    assert.equal(
      (fsError(full) as KilnError).message,
      'Cannot write "/mnt/out/kernel": no space left on the device',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("Node's ERR_FS_FILE_TOO_LARGE is a file fault; socket errors and kiln's own errors are not", async () => {
  const big = Object.assign(new RangeError("File size (21474836480) is greater than 2 GiB"), {
    code: "ERR_FS_FILE_TOO_LARGE",
  });
  assert.equal((fsError(big, "/x/huge") as KilnError).code, "KILN_EFILE_TOO_LARGE");
  assert.equal(isFsError(errno("ECONNRESET", { syscall: "read" })), false);
  assert.equal(isFsError(errno("EACCES", { syscall: "listen" })), false);
  const k = new KilnError("KILN_EX", "m", "h");
  assert.equal(fsError(k), k);
  const plain = new Error("boom");
  assert.equal(fsError(plain), plain);
  const real = await readFile("/nonexistent/kiln").catch((e: unknown) => e);
  assert.equal(isFsError(real), true);
});

test("missingOr: the caller's own error for a missing path, the fault in words otherwise", () => {
  const mine = new KilnError("KILN_EMINE_NOT_FOUND", "not there", "h");
  assert.equal(
    missingOr(errno("ENOENT", { path: "/p" }), "/p", "read", () => mine),
    mine,
  );
  const other = missingOr(errno("EACCES", { path: "/p" }), "/p", "read program", () => mine) as KilnError;
  assert.equal(other.code, "KILN_EACCES");
  assert.equal(other.message, 'Cannot read program "/p": permission denied');
});
