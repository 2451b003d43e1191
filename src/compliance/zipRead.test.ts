import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { crc32 } from "node:zlib";
import { openZip } from "./zipRead.js";

const dir = mkdtempSync(join(tmpdir(), "kiln-zip-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string) {
  const z = await openZip(path);
  try {
    const out: Record<string, string> = {};
    for (const e of z.entries) if (!e.directory) out[e.name] = (await z.read(e)).toString();
    return { out, entries: z.entries };
  } finally {
    await z.close();
  }
}

/** A stored-only zip written by hand, for what Debian's zip will not make: ZIP64 records, hostile names. */
function craft(files: Record<string, string>, opts: { zip64?: boolean; badCrc?: boolean } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const n = Buffer.from(name);
    const crc = crc32(data) ^ (opts.badCrc ? 1 : 0);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const extra = Buffer.alloc(opts.zip64 ? 28 : 0);
    if (opts.zip64) {
      extra.writeUInt16LE(1, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(data.length), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
    }
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(45, 4);
    central.writeUInt16LE(45, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(opts.zip64 ? 0xffffffff : data.length, 20);
    central.writeUInt32LE(opts.zip64 ? 0xffffffff : data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt16LE(extra.length, 30);
    central.writeUInt32LE(opts.zip64 ? 0xffffffff : offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n, extra);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const count = Object.keys(files).length;
  const tail: Buffer[] = [];
  if (opts.zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeUInt16LE(45, 12);
    rec.writeUInt16LE(45, 14);
    rec.writeBigUInt64LE(BigInt(count), 24);
    rec.writeBigUInt64LE(BigInt(count), 32);
    rec.writeBigUInt64LE(BigInt(cd.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : count, 8);
  eocd.writeUInt16LE(opts.zip64 ? 0xffff : count, 10);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(opts.zip64 ? 0xffffffff : offset, 16);
  return Buffer.concat([...locals, cd, ...tail, eocd]);
}

test("reads what Debian's zip writes: deflated and stored entries, directories, ZIP64 records (-fz)", async () => {
  const src = join(dir, "src");
  mkdirSync(join(src, "Debian"), { recursive: true });
  const big = JSON.stringify({ id: "DEBIAN-CVE-2024-0001", details: "x".repeat(20000) });
  writeFileSync(join(src, "Debian", "DEBIAN-CVE-2024-0001.json"), big);
  writeFileSync(join(src, "Debian", "DSA-1.json"), '{"id":"DSA-1"}');
  writeFileSync(join(src, "notes.txt"), "stored, not deflated\n");
  for (const [name, extra] of [
    ["plain.zip", []],
    ["zip64.zip", ["-fz"]],
  ] as const) {
    execFileSync("zip", ["-q", "-r", "-n", ".txt", ...extra, join(dir, name), "Debian", "notes.txt"], {
      cwd: src,
    });
    const { out, entries } = await readAll(join(dir, name));
    assert.deepEqual(Object.keys(out).sort(), [
      "Debian/DEBIAN-CVE-2024-0001.json",
      "Debian/DSA-1.json",
      "notes.txt",
    ]);
    assert.equal(out["Debian/DEBIAN-CVE-2024-0001.json"], big);
    assert.equal(out["notes.txt"], "stored, not deflated\n");
    assert.equal(entries.find((e) => e.name === "notes.txt")?.method, 0);
    assert.equal(entries.find((e) => e.name.endsWith("0001.json"))?.method, 8);
    assert.ok(entries.some((e) => e.directory && e.name === "Debian/"));
  }
});

test("ZIP64 end records and extra fields (as in archives of more than 65,535 entries), checked with unzip", async () => {
  const p = join(dir, "crafted64.zip");
  writeFileSync(p, craft({ "a.json": '{"id":"A"}', "b/c.json": '{"id":"C"}' }, { zip64: true }));
  execFileSync("unzip", ["-tq", p]); // Debian's unzip agrees the archive is valid.
  const { out } = await readAll(p);
  assert.deepEqual(out, { "a.json": '{"id":"A"}', "b/c.json": '{"id":"C"}' });
});

test("hostile names are flagged unsafe; damaged archives fail with the reason", async () => {
  const p = join(dir, "slip.zip");
  writeFileSync(p, craft({ "../../etc/evil.json": "{}", "/abs.json": "{}", "ok/fine.json": "{}" }));
  const z = await openZip(p);
  assert.deepEqual(
    z.entries.map((e) => [e.name, e.unsafe]),
    [
      ["../../etc/evil.json", true],
      ["/abs.json", true],
      ["ok/fine.json", false],
    ],
  );
  await z.close();

  const crc = join(dir, "crc.zip");
  writeFileSync(crc, craft({ "x.json": "{}" }, { badCrc: true }));
  const zc = await openZip(crc);
  await assert.rejects(zc.read(zc.entries[0]!), { code: "KILN_EZIP_INVALID", message: /CRC-32/ });
  await zc.close();

  const notZip = join(dir, "not.zip");
  writeFileSync(notZip, "this is not a zip archive, just text that is long enough");
  await assert.rejects(openZip(notZip), { code: "KILN_EZIP_INVALID", message: /end-of-central-directory/ });
  const good = readFileSync(join(dir, "plain.zip"));
  const cut = join(dir, "cut.zip");
  writeFileSync(cut, good.subarray(0, good.length - 30));
  await assert.rejects(openZip(cut), { code: "KILN_EZIP_INVALID" });
});
