// bin/kiln, what users run, starts node from kiln's startup snapshot (scripts/snapshot.mjs) when one was built
// for this tree and this node, and from the modules otherwise. Both must be the same kiln: the same bytes
// baked, the same errors and exit statuses; and a snapshot that does not fit must never be used.
import assert from "node:assert/strict";
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KILN, KILN_BIN, ROOT, type RunResult, run, runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram, WORK } from "./fixtures.js";

const OUT = join(WORK, "snapshot");

function viaModules(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return run(process.execPath, [KILN, ...args], { env: { ...process.env, KILN_HOME: sharedHome(), ...env } });
}

async function startup(bin: string, env: NodeJS.ProcessEnv = {}): Promise<{ from: string; why?: string }> {
  const r = await run(bin, ["doctor", "--json"], {
    env: { ...process.env, KILN_HOME: sharedHome(), ...env },
  });
  assert.ok(r.stdout.trim(), `doctor printed nothing (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout).startup;
}

describe("startup snapshot", () => {
  before(() => mkdirSync(OUT, { recursive: true }));

  test("bin/kiln starts from the snapshot that the build made", async () => {
    const s = await startup(KILN_BIN);
    assert.equal(
      s.from,
      "snapshot",
      `bin/kiln started from its modules: ${s.why} (is scripts/snapshot.mjs broken?)`,
    );
    const m = await startup(KILN_BIN, { NODE_OPTIONS: "--no-warnings" });
    assert.equal(m.from, "modules", "NODE_OPTIONS may hold V8 flags a snapshot cannot start with");
  });

  test("a bake from the snapshot and from the modules gives the same bytes", async () => {
    const hello = await helloProgram();
    const a = join(OUT, "from-snapshot");
    const b = join(OUT, "from-modules");
    const args = (out: string) => ["bake", "qemu", out, hello, "--kernel", "stock", "--quiet"];
    const ra = await runKiln(args(a));
    assert.equal(ra.code, 0, ra.stderr);
    const rb = await viaModules(args(b));
    assert.equal(rb.code, 0, rb.stderr);
    assert.deepEqual(readdirSync(a).sort(), readdirSync(b).sort());
    for (const f of readdirSync(a))
      assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  });

  test("errors, statuses, help and version are the same either way", async () => {
    for (const args of [
      ["bake", "qemu", join(OUT, "x"), "/nonexistent/program", "--json"],
      ["bake", "no-such-platform", join(OUT, "y"), "/nonexistent/program"],
      ["no-such-verb"],
      ["--version"],
      ["--", "--version"],
      ["bake", "--help"],
      ["components", "--json"],
    ]) {
      const s = await runKiln(args);
      const m = await viaModules(args);
      assert.equal(s.code, m.code, `kiln ${args.join(" ")}: status`);
      assert.equal(s.stdout, m.stdout, `kiln ${args.join(" ")}: stdout`);
      assert.equal(s.stderr, m.stderr, `kiln ${args.join(" ")}: stderr`);
    }
    const early = await run("sh", ["-c", `"${KILN_BIN}" --help | head -c 1; echo " $?"`]);
    assert.equal(early.stdout.trim(), "U 0", "a reader that stops early is not an error");
  });

  describe("in a copy of kiln's tree", () => {
    const tmp = tmpDir("kiln-snapshot-");
    const root = join(tmp.path, "kiln");
    const link = join(tmp.path, "node_modules", ".bin", "kiln");
    before(() => {
      mkdirSync(root);
      for (const d of ["bin", "dist"]) cpSync(join(ROOT, d), join(root, d), { recursive: true });
      cpSync(join(ROOT, "package.json"), join(root, "package.json"));
      for (const d of ["node_modules", "data", "guest", "packages"])
        symlinkSync(join(ROOT, d), join(root, d));
      mkdirSync(join(tmp.path, "node_modules", ".bin"), { recursive: true });
      symlinkSync(join(root, "bin", "kiln"), link);
    });
    after(() => tmp.cleanup());

    test("found through npm's symlink, and refused once it no longer fits", async () => {
      const copied = readdirSync(join(root, "dist", "snapshot"));
      const t = new Date(Date.now() - 60_000);
      utimesSync(join(root, "dist", "cli", "main.js"), t, t);
      assert.equal(
        (await startup(link)).from,
        "snapshot",
        "the copy's own snapshot, through a symlinked bin",
      );

      // Modules rebuilt after the snapshot: its code is not theirs.
      const later = new Date(Date.now() + 60_000);
      utimesSync(join(root, "dist", "cli", "main.js"), later, later);
      const stale = await startup(link);
      assert.deepEqual(
        [stale.from, stale.why],
        ["modules", "the startup snapshot is older than kiln's modules"],
      );

      // A blob built by another node (another inode, size or change time) would stop node with a fatal error.
      utimesSync(join(root, "dist", "cli", "main.js"), t, t);
      const blob = copied.find((f) => f.endsWith(".blob"));
      assert.ok(blob, `no blob among ${copied.join(", ")}`);
      renameSync(join(root, "dist", "snapshot", blob), join(root, "dist", "snapshot", "kiln-1-2-3.blob"));
      const other = await startup(link);
      assert.equal(other.from, "modules");
      assert.match(other.why ?? "", /built by another node/);

      rmSync(join(root, "dist", "snapshot"), { recursive: true });
      const none = await startup(link);
      assert.deepEqual([none.from, none.why], ["modules", "no startup snapshot has been built"]);
      const v = await run(link, ["--version"]);
      assert.equal(v.code, 0, "kiln still works from its modules");
    });
  });
});
