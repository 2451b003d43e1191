#!/usr/bin/env node
// `kiln toolchain --deb`: time to make the toolchain's Debian package through the CLI (write the toolchain
// for /usr/lib/kiln/toolchain in a scratch directory, self-test it, ask dpkg for its Depends, pack), against
// writing the toolchain directory itself (`kiln toolchain --dir X --force`, which also self-tests) as the
// baseline, alternating the two in the same run; and the package's size. Needs `npm run build`.
// Usage: node bench/toolchain-deb.mjs [N]
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KILN, row, timeSync } from "./lib.mjs";

const N = Number(process.argv[2] ?? 7);
const work = mkdtempSync(join(tmpdir(), "kiln-bench-tcdeb-"));
const deb = join(work, "toolchain.deb");
const dir = join(work, "toolchain");
try {
  const base = [];
  const pkg = [];
  const dirRun = () => timeSync(process.execPath, [KILN, "toolchain", "--dir", dir, "--force", "--quiet"]);
  const debRun = () => timeSync(process.execPath, [KILN, "toolchain", "--deb", "-o", deb, "--quiet"]);
  dirRun(); // warm: page cache, compiler
  debRun();
  for (let i = 0; i < N; i++) {
    base.push(dirRun());
    pkg.push(debRun());
  }
  console.log(`kiln toolchain --deb benchmark, n=${N}`);
  const b = row("baseline: kiln toolchain --dir X --force", base);
  row("kiln toolchain --deb -o FILE", pkg, b);
  console.log(`package size ${statSync(deb).size} bytes`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
