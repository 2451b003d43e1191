// Shared by the package tests: the catalogue's source tarballs served over HTTP on loopback (a source
// mirror), a static file server for published repositories, and scratch KILN_HOMEs.
import assert from "node:assert/strict";
import { createReadStream, existsSync, mkdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, normalize } from "node:path";
import { makeTarballs, recipeSha } from "../fixtures/pkg/tarballs.js";
import { ROOT, type RunResult, runKiln } from "../helpers.js";

export const PACKAGES = join(ROOT, "packages");

export interface FileServer {
  url: string;
  /** Requests seen, as "METHOD /path". */
  log: string[];
  close(): Promise<void>;
}

/** Serve the files under `dir` (GET only) on 127.0.0.1. */
export async function serveDir(dir: string): Promise<FileServer> {
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const rel = normalize(decodeURIComponent((req.url ?? "/").split("?")[0]!)).replace(/^(\.\.[/\\])+/, "");
    const file = join(dir, rel);
    if (req.method !== "GET" || !file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-length": statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The kz and kzcat tarballs in `dir`, checked against the catalogue recipes, served as a mirror. */
export async function sourceMirror(dir: string): Promise<FileServer> {
  mkdirSync(dir, { recursive: true });
  const made = await makeTarballs(dir);
  for (const [name, pkg] of [
    ["kz-1.0.0", "kz"],
    ["kzcat-1.0.0", "kzcat"],
  ] as const) {
    assert.equal(
      made[name]!.sha256,
      recipeSha(pkg),
      `test/fixtures/pkg/${name} changed: update sha256 in packages/${pkg}/kiln.toml (npx tsx test/fixtures/pkg/tarballs.ts DIR prints it)`,
    );
  }
  return serveDir(dir);
}

/** Run kiln with `home` as KILN_HOME and parse --json output (stdout) when asked. */
export async function kilnJson<T = unknown>(
  home: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ r: RunResult; json: T }> {
  const r = await runKiln([...args, "--json"], { home, ...opts, timeoutMs: 300_000 });
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`kiln ${args.join(" ")} printed no JSON (status ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { r, json };
}

/** zlib's Adler-32, computed here to check what kzcat (through kz) prints. */
export function adler32(s: string): string {
  let a = 1;
  let b = 0;
  for (const c of Buffer.from(s)) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  return (b * 65536 + a).toString(16).padStart(8, "0");
}
