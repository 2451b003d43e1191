#!/usr/bin/env node
// What tying tools to kiln costs (src/core/spawnChild.ts: setpriv --pdeathsig SIGKILL before the tool):
// per spawn of `true`, plain spawn (baseline) against spawnChild, and exec() as every tool runs, in
// alternation in one run. For scale: `kiln image qcow2` spawns 15 tools, a warm `kiln bake` none.
// Needs `npm run build`. Usage: node bench/spawn.mjs [rounds]
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ROOT, row } from "./lib.mjs";

const { spawnChild } = await import(join(ROOT, "dist", "core", "spawnChild.js"));
const { exec } = await import(join(ROOT, "dist", "core", "exec.js"));
const rounds = Number(process.argv[2] ?? 7);
const PER = 200;
console.log(
  `load average at start: ${loadavg()[0].toFixed(1)} (2 cores); each figure: ms per spawn over ${PER}`,
);

const once = (sp) =>
  new Promise((r) => {
    const c = sp("true", [], { stdio: ["pipe", "pipe", "pipe"] });
    c.stdin.end();
    c.on("close", r);
  });
async function perSpawn(fn) {
  const t = performance.now();
  for (let i = 0; i < PER; i++) await fn();
  return (performance.now() - t) / PER;
}
const xs = { spawn: [], spawnChild: [], exec: [] };
for (let i = 0; i < rounds; i++) {
  xs.spawn.push(await perSpawn(() => once(spawn)));
  xs.spawnChild.push(await perSpawn(() => once(spawnChild)));
  xs.exec.push(await perSpawn(() => exec("true", [])));
}
const base = row("spawn true (baseline)", xs.spawn);
row("spawnChild true (setpriv --pdeathsig)", xs.spawnChild, base);
row("exec true (spawnChild + collection)", xs.exec, base);
