#!/usr/bin/env node
const { guardStdout, answeredFromMemo, answeredVersion } = await import("../dist/cli/entry.js");
guardStdout();
const words = process.argv.slice(2);
if (!answeredVersion(words) && !(await answeredFromMemo(words))) {
  const { main } = await import("../dist/cli/main.js");
  process.exitCode = await main(words);
}
