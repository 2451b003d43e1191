#!/usr/bin/env node
// The compatibility table: every case of scripts/compat-cases.mjs baked from Debian's package as it is,
// booted, and checked for real (the program's output, or a client from the host). Prints a Markdown table
// (package, version, boots, works, ready time, image size, cause) and writes it with --out.
//
//   node scripts/compat.mjs [--kernel stock|specialized] [--only NAME,...] [--fast] [--out FILE] [--json]
//
// Ready time: from `kiln launch` to the program's expected line, or to the first check a server passes
// (the bake is not in it). Needs a built dist/ (npx tsc -p tsconfig.build.json) and kiln's prerequisites.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CASES } from "./compat-cases.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const KILN = join(ROOT, "bin", "kiln.js");

/** Run one case; returns its row. `kernel` undefined: kiln's default. */
export async function runCase(c, opts = {}) {
  const work = mkdtempSync(join(tmpdir(), "kiln-compat-"));
  const row = {
    name: c.name,
    spec: c.spec,
    version: "",
    boots: false,
    works: false,
    readyMs: null,
    sizeMB: null,
    cause: "",
  };
  const env = { ...process.env, ...(opts.home ? { KILN_HOME: opts.home } : {}) };
  const kiln = (args, timeoutMs = 600_000) =>
    spawnSync(process.execPath, [KILN, ...args], { env, encoding: "utf8", timeout: timeoutMs });
  try {
    const adds = [];
    for (const [dest, text] of Object.entries(c.files ?? {})) {
      const src = join(work, "files", dest);
      mkdirSync(dirname(src), { recursive: true });
      writeFileSync(src, text);
      adds.push("--add", `${src}:${dest}`);
    }
    for (const inc of c.include ?? []) adds.push("--include", inc);
    const img = join(work, "image");
    const kernel = opts.kernel ? ["--kernel", opts.kernel] : [];
    const b = kiln(["bake", "qemu", img, c.spec, ...adds, ...kernel, "--quiet"]);
    if (b.status !== 0) {
      row.cause = firstError(b.stderr) || `bake exited ${b.status}`;
      return row;
    }
    const m = JSON.parse(readFileSync(join(img, "manifest.json"), "utf8"));
    row.sizeMB = (m.kernel.size + m.initrd.size) / 1e6;
    const pkg = c.spec.slice(4).split(/[:=]/)[0];
    row.version = m.sbom?.debian?.packages?.[pkg]?.version ?? "";
    if (c.run) await runProgram(c, img, env, row);
    else await runServer(c, img, row, kiln);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return row;
}

function firstError(text) {
  return (
    (text ?? "")
      .split("\n")
      .find((l) => /error|KILN_E|cannot|No such|not found/i.test(l))
      ?.trim()
      .slice(0, 160) ?? ""
  );
}

function runProgram(c, img, env, row) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [KILN, "launch", "qemu", img, "--", ...(c.args ?? [])], { env });
    let out = "";
    let err = "";
    const timer = setTimeout(() => p.kill("SIGINT"), 180_000);
    p.stdout.on("data", (d) => {
      out += d;
      if (
        row.readyMs === null &&
        out
          .replace(/\r/g, "")
          .split("\n")
          .some((l) => c.run.expect.test(l))
      )
        row.readyMs = performance.now() - t0;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      row.boots = /kiln: exit \d+/.test(out) || out.length > 0;
      row.works = code === 0 && row.readyMs !== null;
      if (!row.works) {
        row.readyMs = null;
        row.cause =
          firstError(err) ||
          out
            .split(/\r?\n/)
            .filter((l) => l.trim() && !/^kiln: (exit|net)/.test(l))
            .slice(-1)[0]
            ?.slice(0, 160) ||
          `exit ${code}`;
      }
      resolve();
    });
  });
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function runServer(c, img, row, kiln) {
  const port = await freePort();
  const name = `compat-${process.pid}-${port}`;
  const proto = c.serve.proto === "udp" ? "/udp" : "";
  const t0 = performance.now();
  const l = kiln([
    "launch",
    "qemu",
    img,
    "-d",
    "--name",
    name,
    "-p",
    `${port}:${c.serve.port}${proto}`,
    ...(c.args ? ["--", ...c.args] : []),
  ]);
  if (l.status !== 0) {
    row.cause = firstError(l.stderr) || `launch exited ${l.status}`;
    return;
  }
  try {
    while (performance.now() - t0 < 120_000) {
      if (await c.serve.check(port)) {
        row.readyMs = performance.now() - t0;
        row.boots = row.works = true;
        return;
      }
      const ps = kiln(["ps", "--json"]);
      const me = JSON.parse(ps.stdout || "[]").find?.((x) => x.name === name);
      if (me && me.state === "exited") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const logs = kiln(["logs", name]).stdout ?? "";
    row.boots = logs.length > 0;
    row.cause =
      logs
        .split(/\r?\n/)
        .filter((x) => x.trim() && !/^kiln: net/.test(x))
        .slice(-1)[0]
        ?.slice(0, 160) || "no answer within 120 s";
  } finally {
    kiln(["rm", "-f", name]);
  }
}

export function table(rows) {
  const head =
    "| package | version | boots | works | ready (s) | size (MB) | cause |\n|---|---|---|---|---|---|---|\n";
  return (
    head +
    rows
      .map(
        (r) =>
          `| ${r.name} | ${r.version} | ${r.boots ? "yes" : "no"} | ${r.works ? "yes" : "no"} | ${r.readyMs === null ? "" : (r.readyMs / 1000).toFixed(2)} | ${r.sizeMB === null ? "" : r.sizeMB.toFixed(1)} | ${r.cause.replace(/\|/g, "\\|")} |`,
      )
      .join("\n") +
    "\n"
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (k) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const only = opt("--only")?.split(",");
  const cases = CASES.filter((c) => (!only || only.includes(c.name)) && (!args.includes("--fast") || c.fast));
  const rows = [];
  for (const c of cases) {
    const r = await runCase(c, { kernel: opt("--kernel") });
    process.stderr.write(`${r.works ? "ok  " : "FAIL"} ${r.name}${r.cause ? `: ${r.cause}` : ""}\n`);
    rows.push(r);
  }
  const ok = rows.filter((r) => r.works).length;
  const text = `${table(rows)}\n${ok} of ${rows.length} work.\n`;
  if (args.includes("--json")) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else process.stdout.write(text);
  const out = opt("--out");
  if (out) writeFileSync(out, text);
}
