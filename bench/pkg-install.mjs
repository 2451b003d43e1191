// A second `kiln pkg install` with everything in the store (target: under 300 ms), and an install into an
// empty prefix from artifacts already in the store (nothing built, nothing downloaded). Baseline in the same
// run: `kiln --version` (the floor of any kiln command: node start-up and the CLI).
// Usage: node bench/pkg-install.mjs [runs]   (needs dist/: npx tsc -p tsconfig.build.json)

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { ENV, HOME, KILN, ROOT, repeat, row, timeSync } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 15);
const work = join(HOME, "bench-pkg");
rmSync(work, { recursive: true, force: true });
const mirrorDir = join(work, "mirror");
mkdirSync(mirrorDir, { recursive: true });
// The catalogue's kz/kzcat sources, made by the test fixture's own tarball writer (via tsx).
const { spawn, spawnSync } = await import("node:child_process");
const made = spawnSync("npx", ["tsx", join(ROOT, "test", "fixtures", "pkg", "tarballs.ts"), mirrorDir], {
  encoding: "utf8",
});
if (made.status !== 0) throw new Error(made.stderr);
const server = createServer((req, res) => {
  try {
    res.end(readFileSync(join(mirrorDir, (req.url ?? "").replace(/^\/+/, ""))));
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const mirror = `http://127.0.0.1:${server.address().port}`;

const project = join(work, "project");
mkdirSync(project, { recursive: true });
writeFileSync(
  join(project, "kiln.toml"),
  `repositories = [${JSON.stringify(join(ROOT, "packages"))}]\n[dependencies]\nkzcat = "^1"\n`,
);
const t0 = performance.now();
// Asynchronously: the mirror is served from this process.
await new Promise((resolve, reject) => {
  const c = spawn(process.execPath, [KILN, "pkg", "install", project, "--mirror", mirror, "--quiet"], {
    env: ENV,
    stdio: "inherit",
  });
  c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`first install failed (${code})`))));
});
console.log(`first install (resolve, fetch, build kz and kzcat): ${(performance.now() - t0).toFixed(0)} ms`);

const base = row(
  "baseline: kiln --version",
  await repeat(runs, () => timeSync(process.execPath, [KILN, "--version"])),
);
const second = row(
  "second kiln pkg install (all in the store)",
  await repeat(runs, () => timeSync(process.execPath, [KILN, "pkg", "install", project, "--quiet"])),
  base,
);
row(
  "install into an empty prefix from the store",
  await repeat(Math.min(runs, 7), () => {
    rmSync(join(HOME, "prefix"), { recursive: true, force: true });
    rmSync(join(HOME, "pkg", "installed.json"), { force: true });
    return timeSync(process.execPath, [KILN, "pkg", "install", project, "--quiet"]);
  }),
  base,
);
server.close();
console.log(`target: second install < 300 ms: ${second < 300 ? "met" : "NOT met"}`);
