#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own runner (through tsx), after building dist/
// (end-to-end tests call the real `kiln` executable). Arguments narrow the run to paths containing them.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function find(dir, out = []) {
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) find(p, out);
    else if (e.endsWith(".test.ts")) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [...find("src"), ...find("test")].filter(
  (f) => filters.length === 0 || filters.some((x) => f.includes(x)),
);
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// `npm run build`: the modules, then the startup snapshot bin/kiln starts from.
const build = spawnSync("npm", ["run", "build"], { stdio: "inherit" });
if (build.status !== 0) process.exit(build.status ?? 1);
// Expensive shared state, made once before the tests run in parallel: the default toolchain with its C++
// runtime (libstdc++ for musl, built from gcc-12-source: ~3 min on 2 cores the first time, then cached) and
// the stock kernel components in the shared test KILN_HOME (test/helpers.ts sharedHome()).
const home = process.env.KILN_TEST_HOME ?? join(process.cwd(), ".kiln-test", "home");
const env = { ...process.env, KILN_HOME: home, KILN_TEST_HOME: home };
for (const args of [
  ["toolchain", "--cxx", "--quiet"],
  ["components", "fetch", "--quiet"],
]) {
  const s = spawnSync(process.execPath, ["bin/kiln.js", ...args], { stdio: "inherit", env });
  if (s.status !== 0 && !(args[0] === "toolchain" && s.status === 2)) {
    console.error(`test setup: kiln ${args.join(" ")} failed`);
    process.exit(1);
  }
}
// The Xen files come last, one at a time: they share one nested Xen host (test/e2e/xenRig.ts) whose two
// virtual CPUs are the whole of a CI machine's, and libxl gives a stub domain a fixed 60 s to start its QEMU,
// which it misses when another test's VM competes for the cores.
const isXen = (f) => /test\/e2e\/xen[^/]*\.test\.ts$/.test(f);
const phases = [
  { files: files.filter((f) => !isXen(f)), concurrency: process.env.KILN_TEST_CONCURRENCY ?? 2 },
  { files: files.filter(isXen), concurrency: 1 },
];
let status = 0;
for (const phase of phases) {
  if (phase.files.length === 0) continue;
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      `--test-concurrency=${phase.concurrency}`,
      ...phase.files,
    ],
    { stdio: "inherit", env },
  );
  if (r.status !== 0) status = r.status ?? 1;
}
// The Xen rig (test/e2e/xenRig.ts) is shared by every Xen test of the run and outlives each test file.
spawnSync(process.execPath, ["bin/kiln.js", "rm", "-f", "xen-rig", "--quiet"], { stdio: "ignore", env });
process.exit(status);
