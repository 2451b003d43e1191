// Shared by the OCI, containerdisk, deb and registry end-to-end tests: a baked hello image, and a real
// Debian `docker-registry` on a free loopback port.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, ROOT } from "../helpers.js";
import { bakeImage, compile, helloProgram } from "./fixtures.js";

const FIXTURES = join(ROOT, ".kiln-test", "oci");
const baked = new Map<number, Promise<string>>();
let scratch: string | undefined;

/**
 * A baked image (`kiln bake qemu` with the real toolchain, kiln-init and Debian's stock kernel from the
 * shared test KILN_HOME): examples/hello by default, or a program that exits with `exit`. Baked once per
 * test process, into a directory removed when the process ends.
 */
export function helloImage(opts: { exit?: number } = {}): Promise<string> {
  const status = opts.exit ?? 0;
  let p = baked.get(status);
  if (!p) {
    p = (async () => {
      if (!scratch) {
        mkdirSync(FIXTURES, { recursive: true });
        const dir = mkdtempSync(join(FIXTURES, "baked-"));
        scratch = dir;
        process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
      }
      const program =
        status === 0
          ? await helloProgram()
          : await compile(
              `exit${status}`,
              `#include <stdio.h>\nint main(void) { puts("exiting with ${status}"); return ${status}; }\n`,
            );
      return bakeImage(join(scratch, status === 0 ? "hello" : `exit${status}`), [program]);
    })();
    baked.set(status, p);
  }
  return p;
}

export interface Registry {
  host: string;
  root: string;
  stop(): Promise<void>;
}

/** Start Debian's docker-registry on 127.0.0.1 with its storage in a scratch directory. */
export async function startRegistry(
  dir: string,
  opts: { readonly?: boolean; user?: { name: string; password: string } } = {},
): Promise<Registry> {
  const port = await freePort();
  const root = join(dir, "storage");
  mkdirSync(root, { recursive: true });
  const cfg = join(dir, "config.yml");
  const htpasswd = join(dir, "htpasswd");
  if (opts.user) {
    // bcrypt through the C library's crypt (libxcrypt), as htpasswd -B would write it; cost 4 (2^4 rounds)
    // because the registry checks the hash on every request.
    const hash = execFileSync(
      "python3",
      [
        "-W",
        "ignore",
        "-c",
        "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
        opts.user.password,
      ],
      { encoding: "utf8" },
    ).trim();
    writeFileSync(htpasswd, `${opts.user.name}:${hash}\n`);
  }
  writeFileSync(
    cfg,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${root}`,
      ...(opts.readonly ? ["  maintenance:", "    readonly:", "      enabled: true"] : []),
      ...(opts.user ? ["auth:", "  htpasswd:", "    realm: kiln-test", `    path: ${htpasswd}`] : []),
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", cfg], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (b) => (log += b));
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    try {
      const r = await fetch(`http://${host}/v2/`);
      if (r.status === 200 || (opts.user && r.status === 401)) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`docker-registry did not answer on ${host}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    root,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export interface FaultyProxy {
  host: string;
  /** How many blob answers were tampered with so far. */
  hits: number;
  close(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of a registry that passes everything through except GETs of one blob:
 * `cut` sends the headers and the first `after` bytes, then drops the connection; `stall` sends as much,
 * then nothing more while keeping the connection open; `flip` changes the byte at `after` and sends the rest.
 */
export async function faultyProxy(
  upstream: string,
  digest: string,
  mode: "cut" | "stall" | "flip",
  after: number,
): Promise<FaultyProxy> {
  const { createServer, request } = await import("node:http");
  const state = { hits: 0 };
  const server = createServer((req, res) => {
    const up = request(
      {
        host: upstream.split(":")[0],
        port: Number(upstream.split(":")[1]),
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (ur) => {
        const tamper = req.method === "GET" && req.url?.endsWith(`/blobs/${digest}`) && ur.statusCode === 200;
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!tamper) {
          ur.pipe(res);
          return;
        }
        state.hits++;
        let sent = 0;
        ur.on("data", (chunk: Buffer) => {
          if (mode === "cut" || mode === "stall") {
            if (sent + chunk.length >= after) {
              res.write(chunk.subarray(0, after - sent));
              sent = after;
              if (mode === "stall") {
                ur.pause();
                return;
              }
              ur.destroy();
              res.socket?.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          const c = Buffer.from(chunk);
          if (after >= sent && after < sent + c.length) c[after - sent] = c[after - sent]! ^ 0xff;
          sent += c.length;
          res.write(c);
        });
        ur.on("end", () => res.end());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address();
  const port = typeof a === "object" && a ? a.port : 0;
  return {
    host: `127.0.0.1:${port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
