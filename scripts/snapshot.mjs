// Builds kiln's startup snapshot: the CLI bundled into one script (esbuild) and run once by
// `node --build-snapshot`, so that bin/kiln starts from a ready heap instead of resolving, loading and
// compiling some seventy ES modules on every command (a warm bake: ~40 ms less, issue 18).
//
// What the snapshot holds was evaluated at build time, so only the CLI's entry and what it imports
// statically (commander, errors, progress) are: every verb's code is imported dynamically and evaluates on
// first use, at run time, where it reads the environment it runs in.
//
// The blob is named after the node binary's identity (src/core/startup.ts): a node that was upgraded or
// replaced cannot load a blob built by another (it stops with a fatal error), so bin/kiln then finds no
// blob of that name and starts from the modules. Usage: node scripts/snapshot.mjs (after tsc; `npm run
// build` runs both).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { snapshotName } from "../dist/core/startup.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = join(ROOT, "dist", "snapshot");

// Optional peers of the SBOM library that kiln does not install, and the SBOM library itself, which
// finds its schema files from its own directory (__dirname), so it must stay where npm put it.
const EXTERNAL = [
  "@cyclonedx/cyclonedx-library",
  "libxmljs2",
  "xmlbuilder2",
  "ajv-formats-draft2019",
  "xmllint-wasm",
];

// Run time: the snapshot's own `require` loads only Node's built-in modules, so packages left outside
// the bundle come through a require made for the tree the blob sits in (dist/snapshot/ -> the root), found
// from the --snapshot-blob argument node was started with; the same root gives each bundled file its own
// import.meta.url.
const BANNER = `var __kilnBuiltinRequire = require;
function __kilnRoot() {
  const path = __kilnBuiltinRequire("node:path");
  const i = process.execArgv.indexOf("--snapshot-blob");
  const blob = i >= 0 ? process.execArgv[i + 1] : __filename;
  return path.resolve(path.dirname(blob), "..", "..");
}
function __kilnUrl(rel) {
  return __kilnBuiltinRequire("node:url").pathToFileURL(__kilnBuiltinRequire("node:path").join(__kilnRoot(), rel)).href;
}
var require = function (id) {
  if (id.startsWith("node:") || __kilnBuiltinRequire("node:module").isBuiltin(id)) return __kilnBuiltinRequire(id);
  return __kilnBuiltinRequire("node:module").createRequire(__kilnUrl("package.json"))(id);
};`;

const ENTRY = `import { startupSnapshot } from "node:v8";
import { answeredFromMemo, answeredVersion, guardStdout } from "./dist/cli/entry.js";
import { main } from "./dist/cli/main.js";
startupSnapshot.setDeserializeMainFunction(() => {
  guardStdout();
  // bin/kiln ends node's options with "--", which node takes out: process.argv is [node, ...words].
  const words = process.argv.slice(1);
  if (answeredVersion(words)) return;
  answeredFromMemo(words).then(async (answered) => {
    if (!answered) process.exitCode = await main(words);
  });
});
`;

/** Each bundled file's import.meta.url, as the file it came from (data files are found relative to it). */
const metaUrl = {
  name: "kiln-import-meta-url",
  setup(b) {
    b.onLoad({ filter: /\.(m?js|cjs)$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const rel = relative(ROOT, args.path);
      return {
        contents: text.replaceAll("import.meta.url", `__kilnUrl(${JSON.stringify(rel)})`),
        loader: "js",
      };
    });
  },
};

export async function buildSnapshot() {
  // A snapshot of older modules must not outlive a build that fails: nothing is left but what this makes.
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const script = join(OUT, "kiln.cjs");
  await build({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: "snapshot-entry.mjs", loader: "js" },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    // The snapshot has no dynamic import(): every import() becomes a require of the bundled module.
    supported: { "dynamic-import": false },
    external: EXTERNAL,
    banner: { js: BANNER },
    outfile: script,
    plugins: [metaUrl],
    logLevel: "warning",
    legalComments: "none",
    minify: !process.env.KILN_SNAPSHOT_READABLE,
    keepNames: true,
  });
  // An import() whose specifier is not a literal cannot be bundled: it would become a require() that finds
  // nothing at run time (no dynamic import in a snapshot). Refuse to build rather than ship that.
  const loose = readFileSync(script, "utf8").match(/.{0,80}\brequire\((?!["'])/s);
  if (loose)
    throw new Error(`a dynamic import that esbuild cannot bundle (use a literal specifier): ${loose[0]}`);
  const name = snapshotName(process.execPath);
  const tmp = join(OUT, `.${name}.tmp-${process.pid}`);
  // commander's module reaches child_process, which Node has not vetted for snapshots; kiln's use of it
  // (spawning after start-up) is covered by the tests that run through bin/kiln.
  execFileSync(process.execPath, ["--no-warnings", "--snapshot-blob", tmp, "--build-snapshot", script], {
    cwd: OUT,
    stdio: "inherit",
  });
  const blob = join(OUT, name);
  renameSync(tmp, blob);
  return blob;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const t0 = performance.now();
  try {
    const blob = await buildSnapshot();
    const mb = (statSync(blob).size / 1e6).toFixed(1);
    console.log(
      `snapshot: ${relative(ROOT, blob)} (${mb} MB, ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
  } catch (e) {
    // kiln works without it (bin/kiln starts from the modules; `kiln doctor` says so and why), so a failed
    // snapshot does not fail `npm ci`; test/e2e/snapshot.test.ts does fail on it.
    console.error(`snapshot: not built, kiln starts from its modules: ${e instanceof Error ? e.message : e}`);
  }
}
