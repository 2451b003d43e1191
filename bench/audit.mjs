// Advisory import and audit at scale: 100,000 generated OSV entries (Debian-shaped: source packages, dpkg
// versions, CVSS vectors, some withdrawn) in a zip as osv.dev publishes it, imported into the store; then
// `kiln audit` of an image with 200 parts (kernel, modules, musl, kiln-init, a program, config, and 94
// Debian library packages with their files) against them. Baselines in the same run: `kiln --version`
// (process floor) and `kiln sbom` of the same image (the parts without matching); for scale, an audit
// that parses the whole zip (`--db`) instead of using the store's index.
// Usage: node bench/audit.mjs [runs]   (needs dist/: npx tsc -p tsconfig.build.json)
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import { ENV, HOME, KILN, median, ROOT, repeat, row, timeSync } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 9);
console.log(
  `load average at start: ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")} (2 cores; figures scale with it)`,
);
const ENTRIES = 100_000;
const PACKAGES = 5_000;
const LIB_PACKAGES = 94; // 12 fixed parts + 2 x 94 = 200 parts
const work = join(HOME, "bench-audit");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

let seed = 42;
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
};
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const debVersion = () =>
  `${rand() < 0.1 ? `${1 + Math.floor(rand() * 2)}:` : ""}${Math.floor(rand() * 10)}.${Math.floor(rand() * 30)}.${Math.floor(rand() * 200)}-${1 + Math.floor(rand() * 5)}${rand() < 0.3 ? `~deb12u${1 + Math.floor(rand() * 4)}` : ""}`;
const names = ["linux", "musl", ...Array.from({ length: PACKAGES - 2 }, (_, i) => `pkg${i}`)];
const VECTORS = [
  "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
  "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
  "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
];

/** A deflated zip with ZIP64 end records (more than 65,535 entries), as osv.dev's all.zip. */
function writeZip(path, files) {
  const chunks = [];
  const central = [];
  let offset = 0;
  for (const [name, text] of files) {
    const data = Buffer.from(text);
    const comp = deflateRawSync(data);
    const n = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    chunks.push(local, n, comp);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(45, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(0x800, 8);
    c.writeUInt16LE(8, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(comp.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(n.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, n);
    offset += 30 + n.length + comp.length;
  }
  const cd = Buffer.concat(central);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeUInt16LE(45, 12);
  rec.writeUInt16LE(45, 14);
  rec.writeBigUInt64LE(BigInt(files.length), 24);
  rec.writeBigUInt64LE(BigInt(files.length), 32);
  rec.writeBigUInt64LE(BigInt(cd.length), 40);
  rec.writeBigUInt64LE(BigInt(offset), 48);
  const loc = Buffer.alloc(20);
  loc.writeUInt32LE(0x07064b50, 0);
  loc.writeBigUInt64LE(BigInt(offset + cd.length), 8);
  loc.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  writeFileSync(path, Buffer.concat([...chunks, cd, rec, loc, eocd]));
}

// 1. The advisories: linux gets 3,000 (as in Debian's data), the rest spread over 4,999 packages.
const files = [];
for (let i = 0; i < ENTRIES; i++) {
  const name = i < 3000 ? "linux" : pick(names);
  const year = 2000 + Math.floor(rand() * 26);
  const id = `DEBIAN-CVE-${year}-${String(i).padStart(6, "0")}`;
  const entry = {
    schema_version: "1.6.0",
    id,
    modified: "2025-06-01T00:00:00Z",
    published: `${year}-01-01T00:00:00Z`,
    aliases: [id.replace("DEBIAN-", "")],
    summary: `${name}: generated advisory ${i}`,
    details: "A generated advisory for benchmarking. ".repeat(8),
    ...(rand() < 0.5 ? { severity: [{ type: "CVSS_V3", score: pick(VECTORS) }] } : {}),
    ...(rand() < 0.02 ? { withdrawn: "2025-07-01T00:00:00Z" } : {}),
    affected: [
      {
        package: { ecosystem: pick(["Debian:12", "Debian:12", "Debian:11", "Debian:13", "Debian"]), name },
        ranges: [
          {
            type: "ECOSYSTEM",
            events: [{ introduced: "0" }, ...(rand() < 0.9 ? [{ fixed: debVersion() }] : [])],
          },
        ],
      },
    ],
    references: [
      { type: "ADVISORY", url: `https://security-tracker.debian.org/tracker/${id.replace("DEBIAN-", "")}` },
    ],
  };
  files.push([`${id}.json`, JSON.stringify(entry)]);
}
const zip = join(work, "Debian", "all.zip");
mkdirSync(join(work, "Debian"));
writeZip(zip, files);
console.log(
  `generated ${ENTRIES} OSV entries for ${PACKAGES} packages: ${(statSync(zip).size / 1e6).toFixed(1)} MB zip`,
);

// 2. The image: 200 parts.
const fixture = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    `import { syntheticImage } from "./test/e2e/complianceFixture.ts";
     const pk = Array.from({ length: ${LIB_PACKAGES} }, (_, i) => ({ name: "lib" + i, source: "pkg" + i, version: "1." + i + ".0-1" }));
     const f = await syntheticImage({ debPackages: pk });
     console.log(f.dir);`,
  ],
  { cwd: ROOT, encoding: "utf8" },
);
if (fixture.status !== 0) throw new Error(fixture.stderr);
const image = fixture.stdout.trim();
const parts = JSON.parse(
  spawnSync(process.execPath, [KILN, "licenses", image, "--json"], { env: ENV, encoding: "utf8" }).stdout,
);
const partCount = new Set(parts.licenses.flatMap((g) => g.parts.map((p) => p.id))).size;
console.log(`image: ${partCount} parts`);

// 3. Import (each run replaces the source).
const importMs = await repeat(3, () =>
  timeSync(process.execPath, [KILN, "advisories", "import", zip, "--quiet"]),
);
const dir = join(HOME, "advisories", "Debian");
const storeBytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
row("kiln advisories import (100,000 entries)", importMs);
console.log(`store: ${(storeBytes / 1e6).toFixed(1)} MB (zip ${(statSync(zip).size / 1e6).toFixed(1)} MB)`);

// 4. Audit.
const audit = spawnSync(process.execPath, [KILN, "audit", image, "--json"], { env: ENV, encoding: "utf8" });
const report = JSON.parse(audit.stdout);
console.log(`audit: ${report.audited.length} targets, ${report.findings.length} findings`);
const floor = row(
  "baseline: kiln --version",
  await repeat(runs, () => timeSync(process.execPath, [KILN, "--version"])),
);
const sbom = row(
  "baseline: kiln sbom (parts, no matching)",
  await repeat(runs, () => timeSync(process.execPath, [KILN, "sbom", image])),
  floor,
);
const m = row(
  "kiln audit (200 parts, 100,000 advisories)",
  await repeat(runs, () => timeSync(process.execPath, [KILN, "audit", image, "--json"])),
  floor,
);
console.log(`  audit over sbom: ${(m / sbom).toFixed(2)}x`);
const direct = row(
  "kiln audit --db all.zip (no index)",
  await repeat(3, () => timeSync(process.execPath, [KILN, "audit", image, "--db", zip, "--json"])),
  floor,
);
console.log(
  `target: audit < 500 ms -> ${m < 500 ? "met" : "NOT met"} (${m.toFixed(0)} ms); the index saves ${(direct / m).toFixed(0)}x over parsing the zip`,
);
console.log(`import median ${median(importMs).toFixed(0)} ms`);
rmSync(join(image, ".."), { recursive: true, force: true });
