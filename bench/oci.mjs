#!/usr/bin/env node
// OCI, containerdisk and deb launchables, push and pull: kiln against the standard tools in the same run.
//   oci make          vs  GNU tar of the same three files (the floor: an archive of the bytes)
//   deb make          vs  dpkg-deb --build -Zgzip of the same tree
//   kiln push / pull  vs  skopeo copy oci-archive: <-> docker:// (Debian's docker-registry on loopback)
// Needs `npm run build`, and docker-registry + skopeo. Usage: node bench/oci.mjs [IMAGE_DIR [N]]
// Without IMAGE_DIR, examples/hello is baked (stock kernel) in the benchmarks' KILN_HOME.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ENV, HOME, KILN, kiln, ROOT, repeat, row, timeSync } from "./lib.mjs";

const N = Number(process.argv[3] ?? 5);
let image = process.argv[2];
if (!image) {
  // examples/hello baked with the real toolchain and the stock kernel, in the benchmarks' own KILN_HOME.
  const work = join(HOME, "bench-oci");
  mkdirSync(work, { recursive: true });
  kiln(["toolchain", "--quiet"], { stdio: "ignore" });
  kiln(["components", "fetch", "--quiet"]);
  const cc = join(HOME, "toolchains", "default", "bin", "x86_64-kiln-linux-musl-gcc");
  const hello = join(work, "hello");
  execFileSync(cc, ["-Os", "-o", hello, join(ROOT, "examples", "hello", "hello.c")], { env: ENV });
  image = join(work, "img");
  kiln(["bake", "qemu", image, hello, "--quiet"]);
}
if (!existsSync(join(image, "manifest.json"))) {
  console.error(`no image at ${image}: give a baked image directory`);
  process.exit(2);
}
const { readImage } = await import(join(ROOT, "dist", "bake", "image.js"));
const { getFormat } = await import(join(ROOT, "dist", "image", "format.js"));
const work = mkdtempSync(join(tmpdir(), "kiln-bench-oci-"));

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

let registry;
try {
  const img = await readImage(image);
  console.log(
    `image ${image}: kernel ${img.manifest.kernel.size} bytes, initrd ${img.manifest.initrd.size} bytes; n=${N}`,
  );

  const oci = await getFormat("oci");
  const tarBase = row(
    "baseline: tar -cf kernel initrd manifest.json",
    await repeat(N, () =>
      timeSync("tar", ["-cf", join(work, "base.tar"), "-C", image, "kernel", "initrd", "manifest.json"]),
    ),
  );
  row(
    "kiln image oci",
    await repeat(N, () => timeIt(() => oci.make(img, join(work, "hello.oci.tar"), {}))),
    tarBase,
  );

  const tree = join(work, "debtree");
  const deb = await getFormat("deb");
  await deb.make(img, join(work, "ref.deb"), {});
  execFileSync("dpkg-deb", ["-R", join(work, "ref.deb"), tree]);
  const debBase = row(
    "baseline: dpkg-deb --build -Zgzip (same tree)",
    await repeat(N, () =>
      timeSync("dpkg-deb", ["--build", "-Zgzip", "--root-owner-group", tree, join(work, "base.deb")]),
    ),
  );
  row(
    "kiln image deb",
    await repeat(N, () => timeIt(() => deb.make(img, join(work, "hello.deb"), {}))),
    debBase,
  );
  const cd = await getFormat("containerdisk");
  row(
    "kiln image containerdisk (raw-bios inside)",
    await repeat(N, () => timeIt(() => cd.make(img, join(work, "cd.tar"), {}))),
  );

  const port = await freePort();
  const cfg = join(work, "registry.yml");
  writeFileSync(
    cfg,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, "storage")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  registry = spawn("docker-registry", ["serve", cfg], { stdio: "ignore" });
  const host = `127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://${host}/v2/`)).ok) break;
    } catch {}
    if (i > 200) throw new Error("docker-registry did not start");
    await new Promise((r) => setTimeout(r, 50));
  }
  const archive = join(work, "hello.oci.tar");
  const skopeoPush = await repeat(N, (i) =>
    timeSync("skopeo", [
      "copy",
      "--quiet",
      "--dest-tls-verify=false",
      `oci-archive:${archive}`,
      `docker://${host}/skopeo${i}/hello:1`,
    ]),
  );
  const pushBase = row("baseline: skopeo copy oci-archive: -> docker://", skopeoPush);
  row(
    "kiln push (oci-archive, fresh repository)",
    await repeat(N, (i) =>
      timeSync(process.execPath, [KILN, "push", "--quiet", archive, `${host}/kiln${i}/hello:1`]),
    ),
    pushBase,
  );
  row(
    "kiln push (image dir: make + push, fresh repository)",
    await repeat(N, (i) =>
      timeSync(process.execPath, [KILN, "push", "--quiet", image, `${host}/dir${i}/hello:1`]),
    ),
    pushBase,
  );
  row(
    "kiln push (everything already there)",
    await repeat(N, () =>
      timeSync(process.execPath, [KILN, "push", "--quiet", archive, `${host}/kiln0/hello:1`]),
    ),
    pushBase,
  );
  const { pushImage } = await import(join(ROOT, "dist", "image", "ociPush.js"));
  const { pullImage } = await import(join(ROOT, "dist", "image", "ociPull.js"));
  row(
    "pushImage in-process (oci-archive, fresh repository)",
    await repeat(N, (i) => timeIt(() => pushImage(archive, `${host}/inproc${i}/hello:1`))),
    pushBase,
  );
  const pullBase = row(
    "baseline: skopeo copy docker:// -> oci-archive:",
    await repeat(N, (i) => {
      rmSync(join(work, "pulled.tar"), { force: true });
      return timeSync("skopeo", [
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        `docker://${host}/kiln${i}/hello:1`,
        `oci-archive:${join(work, "pulled.tar")}`,
      ]);
    }),
  );
  row(
    "kiln pull --archive",
    await repeat(N, (i) =>
      timeSync(process.execPath, [
        KILN,
        "pull",
        "--quiet",
        "--archive",
        `${host}/kiln${i}/hello:1`,
        join(work, `p${i}.tar`),
      ]),
    ),
    pullBase,
  );
  row(
    "kiln pull (into an image directory)",
    await repeat(N, (i) =>
      timeSync(process.execPath, [
        KILN,
        "pull",
        "--quiet",
        `${host}/kiln${i}/hello:1`,
        join(work, `img${i}`),
      ]),
    ),
    pullBase,
  );
  row(
    "pullImage in-process (into an image directory)",
    await repeat(N, (i) => timeIt(() => pullImage(`${host}/kiln${i}/hello:1`, join(work, `inproc${i}`)))),
    pullBase,
  );
} finally {
  registry?.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
