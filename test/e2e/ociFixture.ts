// Shared by the OCI, containerdisk, deb and registry end-to-end tests: a baked hello image, and a real
// Debian `docker-registry` on a free loopback port.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { writeCpio } from "../../src/bake/cpio.js";
import type { ImageManifest } from "../../src/bake/image.js";
import { KILN_VERSION } from "../../src/core/version.js";
import { ROOT } from "../helpers.js";

const FIXTURES = join(ROOT, ".kiln-test", "oci");

const initC = (status: number) => `#include <stdio.h>
#include <unistd.h>
#include <sys/reboot.h>
int main(void) {
  printf("hello from the fixture\\nkiln: exit ${status}\\n");
  fflush(stdout);
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
`;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/**
 * A hello image directory (kernel, initrd, manifest.json), made once per checkout under .kiln-test/oci.
 * Until `kiln bake` lands this is hand-made: Debian's stock cloud kernel and an initrd whose /init is a
 * static musl program that prints `kiln: exit N` (0 unless asked) and reboots. Switching to the real bake is one call here.
 */
export function helloImage(opts: { exit?: number } = {}): string {
  const status = opts.exit ?? 0;
  const name = status === 0 ? "hello" : `exit${status}`;
  const dir = join(FIXTURES, name);
  if (existsSync(join(dir, "manifest.json"))) return dir;
  mkdirSync(FIXTURES, { recursive: true });
  const kernel = stockKernel();
  const work = join(FIXTURES, `work-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, "init.c"), initC(status));
  execFileSync("musl-gcc", ["-static", "-Os", "-s", "-o", join(work, "init"), join(work, "init.c")]);
  const init = readFileSync(join(work, "init"));
  const config = { v: 1 as const, rc: [{ bin: "/init", argv: ["init"], mode: "main" as const }] };
  const entries = [
    { path: "/init", mode: 0o755, data: init },
    { path: "/kiln/image.json", data: Buffer.from(`${JSON.stringify(config)}\n`) },
  ];
  const initrd = writeCpio(entries);
  const kbytes = readFileSync(kernel.path);
  const manifest: ImageManifest = {
    v: 1,
    kiln: KILN_VERSION,
    name,
    platform: "qemu",
    kernel: {
      file: "kernel",
      format: "bzimage",
      kind: "stock",
      release: kernel.release,
      package: kernel.package,
      version: kernel.version,
      sha256: sha(kbytes),
      size: kbytes.length,
    },
    initrd: { file: "initrd", sha256: sha(initrd), size: initrd.length, entries: 3 },
    cmdline: "console=ttyS0 quiet panic=-1 reboot=t cryptomgr.notests=1",
    acpi: true,
    components: [{ name: "virtio.blk", how: "module" }],
    modules: [],
    programs: [{ path: "/init", source: "init", sha256: sha(init), size: init.length }],
    files: [],
    init: { path: "/init", sha256: sha(init), size: init.length, version: "fixture" },
    config,
  };
  const tmp = join(work, "image");
  mkdirSync(tmp);
  writeFileSync(join(tmp, "kernel"), kbytes);
  writeFileSync(join(tmp, "initrd"), initrd);
  writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    // Another test process made it at the same time: theirs is the same image.
    if (!existsSync(join(dir, "manifest.json"))) throw e;
  }
  rmSync(work, { recursive: true, force: true });
  return dir;
}

/** Debian's cloud kernel: `apt-get download` of the package linux-image-cloud-amd64 depends on, unpacked. */
function stockKernel(): { path: string; release: string; package: string; version: string } {
  const deps = execFileSync("apt-cache", ["depends", "linux-image-cloud-amd64"], { encoding: "utf8" });
  const pkg = /Depends: (linux-image-\S+)/.exec(deps)?.[1];
  if (!pkg) throw new Error("apt-cache names no kernel package for linux-image-cloud-amd64");
  const release = pkg.replace(/^linux-image-/, "");
  const debDir = join(FIXTURES, "deb");
  mkdirSync(debDir, { recursive: true });
  let deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  if (!deb) {
    execFileSync("apt-get", ["download", pkg], { cwd: debDir, stdio: "ignore" });
    deb = readdirSync(debDir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${pkg} wrote no .deb`);
  }
  const version = execFileSync("dpkg-deb", ["-f", join(debDir, deb), "Version"], { encoding: "utf8" }).trim();
  const x = join(debDir, "x");
  const path = join(x, "boot", `vmlinuz-${release}`);
  if (!existsSync(path)) {
    rmSync(x, { recursive: true, force: true });
    mkdirSync(x, { recursive: true });
    execFileSync("sh", [
      "-c",
      `dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot`,
      "sh",
      join(debDir, deb),
      x,
    ]);
  }
  if (!statSync(path).isFile()) throw new Error(`no kernel at ${path}`);
  return { path, release, package: pkg, version };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
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
    // bcrypt through the C library's crypt (libxcrypt), as htpasswd -B would write it.
    const hash = execFileSync(
      "python3",
      [
        "-W",
        "ignore",
        "-c",
        "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
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
 * `cut` sends the headers and the first `after` bytes, then drops the connection; `flip` changes the
 * byte at `after` and sends the rest.
 */
export async function faultyProxy(
  upstream: string,
  digest: string,
  mode: "cut" | "flip",
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
          if (mode === "cut") {
            if (sent + chunk.length >= after) {
              res.write(chunk.subarray(0, after - sent));
              sent = after;
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
