// The stock kernel: fetching and unpacking it, and resolving a platform on it, against the plain Debian tools
// doing the same work in the same run (apt-get download + dpkg-deb -x; sha256sum of the kernel, which any
// resolution that checks digests must pay). Usage: node bench/components.mjs [fetch runs] [resolve runs]
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ENV, HOME, KILN, kiln, ROOT, repeat, row, timeSync } from "./lib.mjs";

const fetchRuns = Number(process.argv[2] ?? 3);
const resolveRuns = Number(process.argv[3] ?? 15);

kiln(["components", "fetch", "--quiet"]);
const show = JSON.parse(kiln(["components", "show", "--json"]));
const deb = join(HOME, "store", "blobs", "sha256", show.sha256);

const scratch = mkdtempSync(join(HOME, "bench-components-"));
const fresh = () => mkdtempSync(join(scratch, "x-"));

console.log(
  `kernel ${show.release}: ${show.modules.count} modules, ${(show.debSize / 1e6).toFixed(1)} MB package`,
);
const aptBase = row(
  "baseline: apt-get download + dpkg-deb -x",
  await repeat(fetchRuns, () => {
    const d = fresh();
    return timeSync("sh", [
      "-c",
      `cd "$1" && apt-get download -q "$2=$3" >/dev/null 2>&1 && dpkg-deb -x *.deb out`,
      "sh",
      d,
      show.package,
      show.version,
    ]);
  }),
);
row(
  "kiln components fetch --force",
  await repeat(fetchRuns, () =>
    timeSync(process.execPath, [KILN, "components", "fetch", "--force", "--quiet"]),
  ),
  aptBase,
);
const xBase = row(
  "baseline: dpkg-deb -x of the .deb",
  await repeat(fetchRuns, () => timeSync("dpkg-deb", ["-x", deb, join(fresh(), "out")])),
);
row(
  "kiln components fetch --deb (import, empty home)",
  await repeat(fetchRuns, () =>
    timeSync(process.execPath, [KILN, "components", "fetch", "--deb", deb, "--quiet"], {
      env: { ...ENV, KILN_HOME: fresh() },
    }),
  ),
  xBase,
);

const { resolvePlatform } = await import(join(ROOT, "dist", "components", "resolve.js"));
const vmlinuz = show.vmlinuz.path;
const hBase = row(
  "baseline: sha256sum of vmlinuz",
  await repeat(resolveRuns, () => timeSync("sha256sum", [vmlinuz])),
);
const inProcess = await repeat(resolveRuns, async () => {
  const t = performance.now();
  await resolvePlatform("qemu", { env: ENV });
  return performance.now() - t;
});
row("resolvePlatform(qemu), in process", inProcess, hBase);
const script = `const t=performance.now();const {resolvePlatform}=await import(${JSON.stringify(join(ROOT, "dist", "components", "resolve.js"))});await resolvePlatform("qemu");`;
const nodeBase = row(
  "baseline: node -e '' (start-up)",
  await repeat(resolveRuns, () => timeSync(process.execPath, ["-e", ""])),
);
row(
  "node: import + resolvePlatform(qemu)",
  await repeat(resolveRuns, () => timeSync(process.execPath, ["--input-type=module", "-e", script])),
  nodeBase,
);
rmSync(scratch, { recursive: true, force: true });
