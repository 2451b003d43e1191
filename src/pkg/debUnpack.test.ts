import assert from "node:assert/strict";
import { existsSync, readlinkSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pack } from "tar-stream";
import type { TreeIndex } from "../core/store.js";
import { unpackDebRoot } from "./debUnpack.js";
import { RootView } from "./rootView.js";

const dir = await mkdtemp(join(tmpdir(), "kiln-debunpack-"));
after(() => rm(dir, { recursive: true, force: true }));

type Entry = {
  name: string;
  type?: "file" | "symlink" | "link" | "directory";
  linkname?: string;
  data?: string;
};

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  for (const e of entries) {
    const body = e.data ?? (e.type === undefined || e.type === "file" ? "" : undefined);
    const header = {
      name: e.name,
      type: e.type ?? "file",
      linkname: e.linkname,
      mode: e.type === "directory" ? 0o755 : 0o644,
    };
    if (body === undefined) p.entry(header);
    else p.entry(header, body);
  }
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A .deb: `ar` with debian-binary, control.tar, data.tar (uncompressed members are allowed by dpkg). */
async function deb(name: string, data: Entry[]): Promise<string> {
  const members: [string, Buffer][] = [
    ["debian-binary", Buffer.from("2.0\n")],
    ["control.tar", await tarOf([{ name: "./control", data: "Package: x\nVersion: 1\n" }])],
    ["data.tar", await tarOf(data)],
  ];
  const parts: Buffer[] = [Buffer.from("!<arch>\n")];
  for (const [n, b] of members) {
    const h = `${`${n}/`.padEnd(16)}${"0".padEnd(12)}${"0".padEnd(6)}${"0".padEnd(6)}${"100644".padEnd(8)}${String(b.length).padEnd(10)}\`\n`;
    parts.push(Buffer.from(h, "latin1"), b);
    if (b.length % 2) parts.push(Buffer.from("\n"));
  }
  const path = join(dir, `${name}.deb`);
  await writeFile(path, Buffer.concat(parts));
  return path;
}

test("absolute symlinks are rewritten to stay inside the tree; files and hard links land", async () => {
  const d = await deb("good", [
    { name: "./lib/x86_64-linux-gnu/", type: "directory" },
    { name: "./lib/x86_64-linux-gnu/ld.so", data: "LOADER" },
    { name: "./lib64/ld-linux.so", type: "symlink", linkname: "/lib/x86_64-linux-gnu/ld.so" },
    { name: "./usr/lib/deep/link", type: "symlink", linkname: "../../../../../../etc/x" },
    { name: "./usr/bin/a", data: "A" },
    { name: "./usr/bin/b", type: "link", linkname: "./usr/bin/a" },
  ]);
  const root = join(dir, "good-root");
  const entries = await unpackDebRoot(d, root);
  assert.equal(readlinkSync(join(root, "lib64/ld-linux.so")), "../lib/x86_64-linux-gnu/ld.so");
  assert.equal(await readFile(join(root, "lib64/ld-linux.so"), "utf8"), "LOADER");
  // Too many ".." resolve at the root, as the kernel does: the link points at /etc/x inside the tree.
  assert.equal(readlinkSync(join(root, "usr/lib/deep/link")), "../../../etc/x");
  assert.equal(await readFile(join(root, "usr/bin/b"), "utf8"), "A");
  assert.deepEqual(
    entries.map((e) => `${e.type} ${e.path}`),
    [
      "file lib/x86_64-linux-gnu/ld.so",
      "symlink lib64/ld-linux.so",
      "symlink usr/lib/deep/link",
      "file usr/bin/a",
      "hardlink usr/bin/b",
    ],
  );
});

for (const [what, entries, msg] of [
  ["a ../ entry", [{ name: "./../evil", data: "x" }], /climbs out of the root/],
  ["an absolute entry", [{ name: "/etc/evil", data: "x" }], /absolute path/],
  [
    "a write through a symlink",
    [
      { name: "./l", type: "symlink", linkname: "/tmp" },
      { name: "./l/evil", data: "x" },
    ],
    /through the symlink/,
  ],
  [
    "a hard link to nothing",
    [{ name: "./h", type: "link", linkname: "/etc/passwd" }],
    /absolute path|hard link/,
  ],
] as [string, Entry[], RegExp][]) {
  test(`refused: ${what}`, async () => {
    const d = await deb(what.replace(/\W+/g, "-"), entries);
    const root = join(dir, `${what.replace(/\W+/g, "-")}-root`);
    await assert.rejects(unpackDebRoot(d, root), (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_EARCHIVE_UNSAFE");
      assert.match(e.message, msg);
      return true;
    });
    assert.ok(!existsSync("/tmp/evil") || (await readFile("/tmp/evil", "utf8")) !== "x");
  });
}

test("RootView follows symlinks across packages, clamps '..' at the root, stops loops", () => {
  const v = new RootView();
  const idx = (files: TreeIndex["files"]): TreeIndex => ({ format: 1, key: "k", files });
  v.add(
    "a",
    "/A",
    idx([
      { path: "usr/bin/prog", type: "symlink", mode: 0o777, size: 0, target: "real" },
      { path: "usr/bin/loop1", type: "symlink", mode: 0o777, size: 0, target: "loop2" },
      { path: "usr/bin/loop2", type: "symlink", mode: 0o777, size: 0, target: "loop1" },
      { path: "lib64/ld", type: "symlink", mode: 0o777, size: 0, target: "../../../lib/x/ld.so" },
    ]),
  );
  v.add(
    "b",
    "/B",
    idx([
      { path: "usr/bin/real", type: "file", mode: 0o755, size: 1 },
      { path: "lib/x/ld.so", type: "file", mode: 0o755, size: 1 },
    ]),
  );
  const p = v.lookup("/usr/bin/prog")!;
  assert.equal(p.path, "/usr/bin/real");
  assert.equal(p.file!.pkg, "b");
  assert.equal(p.file!.host, "/B/usr/bin/real");
  assert.deepEqual(
    p.links.map((l) => l.path),
    ["/usr/bin/prog"],
  );
  assert.equal(v.lookup("/lib64/ld")!.path, "/lib/x/ld.so");
  assert.equal(v.lookup("/usr/bin/loop1"), undefined);
  assert.equal(v.lookup("/usr/bin/real/x"), undefined);
  assert.equal(v.lookup("/usr")!.isDir, true);
  assert.deepEqual(v.under("/usr/bin"), [
    "/usr/bin/loop1",
    "/usr/bin/loop2",
    "/usr/bin/prog",
    "/usr/bin/real",
  ]);
});
