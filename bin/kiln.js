#!/usr/bin/env node
// A reader that closes early (`kiln --help | head`) is not an error.
process.stdout.on("error", (e) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});
// Fast path: `--version` must answer without loading the CLI.
if (process.argv.length === 3 && (process.argv[2] === "--version" || process.argv[2] === "-V")) {
  const { KILN_VERSION } = await import("../dist/core/version.js");
  process.stdout.write(`${KILN_VERSION}\n`);
} else {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(process.argv.slice(2));
}
