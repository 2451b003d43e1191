import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, test } from "node:test";
import { pack } from "tar-stream";
import { sha256 } from "./digest.js";
import { extractTar } from "./safeTar.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-safetar-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

interface E {
  name: string;
  type?: "file" | "directory" | "symlink" | "link";
  linkname?: string;
  data?: string | Buffer;
  mode?: number;
}

/** Build a tar with tar-stream: it writes any name we give it, hostile ones included. */
async function tarOf(entries: E[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const header = {
      name: e.name,
      type: e.type ?? "file",
      mode: e.mode ?? 0o644,
      ...(e.linkname ? { linkname: e.linkname } : {}),
    };
    await new Promise<void>((res, rej) => {
      const cb = (err?: Error | null) => (err ? rej(err) : res());
      if (header.type === "file") p.entry(header, e.data ?? "", cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

function target(): string {
  return join(dir, `t${n++}`, "out");
}

// Every escape aims at this test's own directory (never at /etc), so a regression damages nothing else:
// targets are DIR/tN/out, so "../outside" from the root is DIR/tN/outside.
const outside = join(dir, "secret");
writeFileSync(outside, "secret");
const hostile: [string, E[]][] = [
  [
    "a name with ..",
    [
      { name: "ok.txt", data: "fine" },
      { name: "../outside/escaped.txt", data: "x" },
    ],
  ],
  ["a name with .. in the middle", [{ name: "a/../../outside/escaped.txt", data: "x" }]],
  ["an absolute name", [{ name: join(dir, "abs-escaped.txt"), data: "x" }]],
  [
    "a symlink escaping the root, then a file through it",
    [
      { name: "etc", type: "symlink", linkname: "../outside" },
      { name: "etc/escaped.txt", data: "x" },
    ],
  ],
  ["an absolute symlink", [{ name: "abs", type: "symlink", linkname: join(dir, "outside") }]],
  [
    "a file through a symlink that stays inside",
    [
      { name: "real/", type: "directory" },
      { name: "alias", type: "symlink", linkname: "real" },
      { name: "alias/file", data: "x" },
    ],
  ],
  ["a hardlink to a file outside", [{ name: "pw", type: "link", linkname: "../../secret" }]],
  ["a hardlink to an absolute path", [{ name: "pw", type: "link", linkname: outside }]],
];

for (const [what, entries] of hostile) {
  test(`refuses ${what}: KILN_EARCHIVE_UNSAFE and nothing left`, async () => {
    const out = target();
    mkdirSync(join(out, "..", "outside"), { recursive: true });
    const tar = await tarOf(entries);
    await assert.rejects(
      extractTar(Readable.from([tar]), out, { label: "hostile.tar" }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "KILN_EARCHIVE_UNSAFE");
        assert.match(e.message, /hostile\.tar/);
        return true;
      },
    );
    assert.equal(existsSync(out), false, "the target is removed");
    assert.deepEqual(readdirSync(join(out, "..", "outside")), [], "nothing written outside");
    assert.equal(existsSync(join(dir, "abs-escaped.txt")), false);
    assert.equal(readFileSync(outside, "utf8"), "secret");
    assert.equal(statSync(outside).nlink, 1, "no hardlink made to an outside file");
  });
}

test("extracts what GNU tar extracts: files, modes, directories, inner symlinks, hardlinks", async () => {
  const entries: E[] = [
    { name: "./", type: "directory" },
    { name: "./bin/", type: "directory", mode: 0o755 },
    { name: "./bin/tool", data: "#!/bin/sh\necho hi\n", mode: 0o4755 },
    { name: "./etc/conf", data: "k=v\n", mode: 0o600 },
    { name: "./lib/big.bin", data: Buffer.alloc(70_001, 9) },
    { name: "./lib/link", type: "symlink", linkname: "big.bin" },
    { name: "./lib/up", type: "symlink", linkname: "../etc/conf" },
    { name: "./lib/hard", type: "link", linkname: "./lib/big.bin" },
  ];
  const tar = await tarOf(entries);
  const out = target();
  const files = await extractTar(Readable.from([tar]), out, { label: "good.tar" });
  const gnu = join(dir, `gnu${n++}`);
  mkdirSync(gnu);
  execFileSync("tar", ["-x", "-C", gnu], { input: tar });
  for (const p of ["bin/tool", "etc/conf", "lib/big.bin", "lib/hard"]) {
    assert.ok(readFileSync(join(out, p)).equals(readFileSync(join(gnu, p))), p);
  }
  for (const p of ["lib/link", "lib/up"])
    assert.equal(readlinkSync(join(out, p)), readlinkSync(join(gnu, p)));
  // Modes are normalized: executable or not, never setuid; the reported digest is the content's.
  assert.equal(statSync(join(out, "bin/tool")).mode & 0o7777, 0o755);
  assert.equal(statSync(join(out, "etc/conf")).mode & 0o7777, 0o644);
  assert.equal(statSync(join(out, "lib/hard")).ino, statSync(join(out, "lib/big.bin")).ino);
  const big = files.find((f) => f.path === "lib/big.bin")!;
  assert.equal(big.sha256, sha256(readFileSync(join(out, "lib/big.bin"))));
  assert.equal(big.size, 70_001);
  assert.ok(lstatSync(join(out, "lib/link")).isSymbolicLink());
});

test("select skips and renames entries; inflate stores compressed files decompressed", async () => {
  const body = Buffer.from("a kernel module, pretend\n".repeat(100));
  const xz = execFileSync("xz", ["-c"], { input: body });
  const gz = execFileSync("gzip", ["-c"], { input: body });
  const tar = await tarOf([
    { name: "./usr/lib/modules/r/kernel/a.ko.xz", data: xz },
    { name: "./usr/lib/modules/r/kernel/b.ko.gz", data: gz },
    { name: "./usr/share/doc/skip-me", data: "no" },
  ]);
  const out = target();
  const files = await extractTar(Readable.from([tar]), out, {
    label: "mods.tar",
    select: (p) => (p.startsWith("usr/lib/modules/") ? p.slice(4) : undefined),
    inflate: (p) => (p.endsWith(".xz") ? "xz" : p.endsWith(".gz") ? "gz" : undefined),
  });
  assert.deepEqual(files.map((f) => [f.path, f.inflated]).sort(), [
    ["lib/modules/r/kernel/a.ko", "xz"],
    ["lib/modules/r/kernel/b.ko", "gz"],
  ]);
  assert.ok(readFileSync(join(out, "lib/modules/r/kernel/a.ko")).equals(body));
  assert.ok(readFileSync(join(out, "lib/modules/r/kernel/b.ko")).equals(body));
  assert.equal(existsSync(join(out, "usr")), false);
  assert.equal(files[0]!.sha256, sha256(body));
});

test("a truncated tar or a corrupt compressed member is KILN_EARCHIVE_INVALID and leaves nothing", async () => {
  const tar = await tarOf([
    { name: "a", data: Buffer.alloc(20_000, 1) },
    { name: "b", data: "b" },
  ]);
  const out = target();
  await assert.rejects(extractTar(Readable.from([tar.subarray(0, 10_000)]), out, { label: "cut.tar" }), {
    code: "KILN_EARCHIVE_INVALID",
  });
  assert.equal(existsSync(out), false);
  const bad = await tarOf([{ name: "m.ko.xz", data: "not xz at all" }]);
  const out2 = target();
  await assert.rejects(
    extractTar(Readable.from([bad]), out2, { label: "bad.tar", inflate: () => "xz" }),
    (e: Error & { code?: string }) => e.code === "KILN_EARCHIVE_INVALID" && /m\.ko\.xz/.test(e.message),
  );
  assert.equal(existsSync(out2), false);
});

test("refuses to extract into an existing directory", async () => {
  const out = target();
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "keep"), "mine");
  await assert.rejects(
    extractTar(Readable.from([await tarOf([{ name: "a", data: "a" }])]), out, { label: "x.tar" }),
  );
  assert.equal(readFileSync(join(out, "keep"), "utf8"), "mine");
});

test('escapingSymlinks "rebase": absolute and climbing symlinks become relative links inside the tree', async () => {
  const out = target();
  mkdirSync(join(out, "..", "outside"), { recursive: true });
  writeFileSync(join(out, "..", "outside", "x"), "host");
  const files = await extractTar(
    Readable.from([
      await tarOf([
        { name: "lib/real/ld.so", data: "LOADER" },
        { name: "lib64/ld.so", type: "symlink", linkname: "/lib/real/ld.so" },
        // Aimed at this test's DIR/tN/outside: absolute, and by too many "..".
        { name: "usr/abs", type: "symlink", linkname: join(out, "..", "outside") },
        { name: "usr/deep/climb", type: "symlink", linkname: "../../../../outside/x" },
      ]),
    ]),
    out,
    { label: "root.tar", escapingSymlinks: "rebase" },
  );
  assert.equal(readlinkSync(join(out, "lib64/ld.so")), "../lib/real/ld.so");
  assert.equal(readFileSync(join(out, "lib64/ld.so"), "utf8"), "LOADER");
  const abs = readlinkSync(join(out, "usr/abs"));
  assert.ok(!abs.startsWith("/") && !abs.startsWith("../.."), abs);
  assert.equal(readlinkSync(join(out, "usr/deep/climb")), "../../outside/x");
  assert.equal(existsSync(join(out, "usr/deep/climb")), false, "resolves inside the tree, where nothing is");
  assert.deepEqual(
    files.filter((f) => f.type === "symlink").map((f) => [f.path, f.rebasedFrom]),
    [
      ["lib64/ld.so", "/lib/real/ld.so"],
      ["usr/abs", join(out, "..", "outside")],
      ["usr/deep/climb", "../../../../outside/x"],
    ],
  );
  // Writing through a rebased symlink is still refused, and nothing lands outside.
  const out2 = target();
  mkdirSync(join(out2, "..", "outside"), { recursive: true });
  await assert.rejects(
    extractTar(
      Readable.from([
        await tarOf([
          { name: "etc", type: "symlink", linkname: join(out2, "..", "outside") },
          { name: "etc/escaped.txt", data: "x" },
        ]),
      ]),
      out2,
      { label: "hostile.tar", escapingSymlinks: "rebase" },
    ),
    { code: "KILN_EARCHIVE_UNSAFE" },
  );
  assert.equal(existsSync(out2), false);
  assert.deepEqual(readdirSync(join(out2, "..", "outside")), []);
});
