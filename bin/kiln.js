#!/usr/bin/env node
const { guardStdout, answeredVersion } = await import("../dist/cli/entry.js");
guardStdout();
const words = process.argv.slice(2);
if (!answeredVersion(words)) {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(words);
}
