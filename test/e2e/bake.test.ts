import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { ROOT, runKiln, sharedHome } from "../helpers.js";
import { bakeImage, compile, helloProgram, WORK } from "./fixtures.js";

const OUT = join(WORK, "bake");
const RECORD_SPAWNS = join(ROOT, "test", "fixtures", "spawn", "recordSpawns.mjs");

function listing(image: string): string[] {
  return execFileSync("cpio", ["-it", "--quiet"], { input: readFileSync(join(image, "initrd")) })
    .toString()
    .trim()
    .split("\n");
}

describe("bake", () => {
  let hello: string;
  before(async () => {
    mkdirSync(OUT, { recursive: true });
    hello = await helloProgram();
  });

  test("the initrd lists with Debian's cpio: init, program, modules in the manifest's order, baked config", async () => {
    const img = await bakeImage(join(OUT, "hello"), [hello]);
    const names = listing(img);
    const manifest = JSON.parse(readFileSync(join(img, "manifest.json"), "utf8"));
    assert.ok(names.includes("init"));
    assert.ok(names.includes("bin/hello"));
    assert.ok(names.includes("kiln/image.json"));
    assert.deepEqual([...names].sort(), names, "entries are sorted");
    assert.ok(manifest.modules.length > 0, "the qemu platform loads virtio modules from the stock kernel");
    for (const m of manifest.modules)
      assert.ok(names.includes(m.path.slice(1)), `${m.path} is in the initrd`);
    const order = execFileSync("cpio", ["-i", "--to-stdout", "--quiet", "kiln/modules"], {
      input: readFileSync(join(img, "initrd")),
    }).toString();
    const lines = order.trim().split("\n");
    assert.deepEqual(
      lines.map((l) => l.split(" ")[0]),
      manifest.modules.map((m: { path: string }) => m.path),
    );
    // Device modules name the device classes they serve; kiln-init skips them when none is attached.
    assert.ok(
      lines.some((l) => /virtio_net\.ko net$/.test(l)),
      order,
    );
    assert.ok(
      lines.some((l) => /virtio_blk\.ko blk$/.test(l)),
      order,
    );
    assert.equal(manifest.initrd.entries, names.length);
    assert.deepEqual(manifest.config.rc, [{ bin: "/bin/hello", argv: ["hello"], mode: "main" }]);
    assert.equal(manifest.programs[0].note.tuple, "x86_64-kiln-linux-musl");
  });

  test("two bakes of the same inputs are byte-identical", async () => {
    const a = await bakeImage(join(OUT, "same-a"), [hello]);
    const b = await bakeImage(join(OUT, "same-b"), [hello]);
    for (const f of ["kernel", "initrd", "manifest.json"]) {
      assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
    }
    assert.ok(
      !readFileSync(join(a, "manifest.json"), "utf8").includes(WORK),
      "no host paths in the manifest",
    );
  });

  test("kiln verify bakes an image again to the same bytes, and notices a changed initrd", async () => {
    const img = await bakeImage(join(OUT, "verify"), [hello]);
    const ok = await runKiln(["verify", img]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /the same bytes again/);
    const initrd = readFileSync(join(img, "initrd"));
    const at = initrd.indexOf(Buffer.from(" from kiln!"));
    assert.ok(at > 0, "the program's string is in the initrd");
    initrd[at + 1] = "F".charCodeAt(0);
    writeFileSync(join(img, "initrd"), initrd);
    const bad = await runKiln(["verify", img, "--json"]);
    assert.equal(bad.code, 1);
    const r = JSON.parse(bad.stdout);
    assert.equal(r.same, false);
    assert.ok(
      r.differences.some((d: { what: string }) => d.what === "manifest.programs"),
      bad.stdout,
    );
  });

  test("--add puts files and directory trees in; --config is baked in", async () => {
    const site = join(WORK, "site");
    mkdirSync(join(site, "sub"), { recursive: true });
    writeFileSync(join(site, "index.html"), "hi");
    writeFileSync(join(site, "sub", "a.txt"), "a");
    const cfg = join(WORK, "cfg.json");
    writeFileSync(cfg, JSON.stringify({ hostname: "web", env: { PORT: "8080" } }));
    const img = await bakeImage(join(OUT, "add"), [hello, "--add", `${site}:/srv/www`, "--config", cfg]);
    const names = listing(img);
    assert.ok(names.includes("srv/www/index.html") && names.includes("srv/www/sub/a.txt"));
    const m = JSON.parse(readFileSync(join(img, "manifest.json"), "utf8"));
    assert.equal(m.config.hostname, "web");
    assert.deepEqual(m.config.env, { PORT: "8080" });
    assert.deepEqual(
      m.files.map((f: { path: string }) => f.path),
      ["/srv/www/index.html", "/srv/www/sub/a.txt"],
    );
  });

  test("no program makes a kernel-plane image; several programs make an rc", async () => {
    const plane = await bakeImage(join(OUT, "plane"), []);
    const pm = JSON.parse(readFileSync(join(plane, "manifest.json"), "utf8"));
    assert.equal(pm.programs.length, 0);
    assert.equal(pm.config.rc, undefined);
    const other = await compile("second", "int main(void){return 0;}\n");
    const two = await bakeImage(join(OUT, "two"), [hello, other]);
    const tm = JSON.parse(readFileSync(join(two, "manifest.json"), "utf8"));
    assert.deepEqual(
      tm.config.rc.map((r: { mode: string }) => r.mode),
      ["main", "bg"],
    );
  });

  describe("bad input gives KILN_E errors and leaves things as they were", () => {
    const expectError = async (args: string[], code: string, status = 2) => {
      const r = await runKiln(["bake", ...args]);
      assert.equal(r.code, status, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`error ${code}: .+\\n  hint: .+`));
      return r;
    };

    test("unknown platform and unknown component", async () => {
      const r = await expectError(["nosuch", join(OUT, "x"), hello], "KILN_EPLATFORM_UNKNOWN");
      assert.match(r.stderr, /"nosuch"/);
      await expectError(
        ["qemu", join(OUT, "x"), hello, "--component", "warp.drive"],
        "KILN_ECOMPONENT_UNKNOWN",
      );
      assert.ok(!existsSync(join(OUT, "x")));
    });

    test("a program that is not ELF, a dynamic ELF, a foreign ELF", async () => {
      const txt = join(WORK, "notelf.txt");
      writeFileSync(txt, "hello\n");
      await expectError(["qemu", join(OUT, "x"), txt], "KILN_ENOT_ELF");
      const r = await expectError(["qemu", join(OUT, "x"), "/bin/ls"], "KILN_EPROGRAM_DYNAMIC");
      assert.match(r.stderr, /"\/bin\/ls"/);
      const plain = join(WORK, "plain-static");
      execFileSync("musl-gcc", ["-static", "-o", plain, "-x", "c", "-"], {
        input: "int main(void){return 0;}",
      });
      await expectError(["qemu", join(OUT, "x"), plain], "KILN_EPROGRAM_FOREIGN");
      assert.ok(!existsSync(join(OUT, "x")));
    });

    test("a missing --add file, a malformed -c file, a malformed --config", async () => {
      await expectError(
        ["qemu", join(OUT, "x"), hello, "--add", "/no/such/file:/etc/x"],
        "KILN_EADD_NOT_FOUND",
      );
      const bad = join(WORK, "bad.toml");
      writeFileSync(bad, "[platforms.mine\ncomponents = [");
      await expectError(["qemu", join(OUT, "x"), hello, "-c", bad], "KILN_ECATALOGUE_INVALID");
      const cfg = join(WORK, "bad-cfg.json");
      writeFileSync(cfg, JSON.stringify({ rc: [{ bin: "relative" }] }));
      const r = await expectError(["qemu", join(OUT, "x"), hello, "--config", cfg], "KILN_ECONFIG_INVALID");
      assert.match(r.stderr, /key "rc\[0\]\.bin"/);
      assert.ok(!existsSync(join(OUT, "x")));
    });

    test("a warm bake starts no process; a corrupt kernel is still caught when its digest is cached, and the store is left as it was", async () => {
      const home = privateHome("corrupt-home");
      // Every child process kiln starts, recorded from inside it (test/fixtures/spawn/recordSpawns.mjs).
      const log = join(WORK, "corrupt-spawns.log");
      const recorded = async (args: string[]) => {
        rmSync(log, { force: true });
        const r = await runKiln(args, {
          home,
          env: { NODE_OPTIONS: `--import=${pathToFileURL(RECORD_SPAWNS).href}`, KILN_TEST_SPAWN_LOG: log },
        });
        return { ...r, spawns: existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [] };
      };
      // Cold (no host facts, no digests cached): dpkg is asked, which also shows the recorder sees spawns.
      const cold = await recorded(["bake", "qemu", join(OUT, "warm"), hello]);
      assert.equal(cold.code, 0, cold.stderr);
      assert.ok(
        cold.spawns.some((l) => l.includes("dpkg")),
        `a cold bake asks dpkg: ${cold.spawns.join("; ")}`,
      );
      const firstKernel = statSync(join(OUT, "warm", "kernel")).ino;
      const warm = await recorded(["bake", "qemu", join(OUT, "warm"), hello]);
      assert.equal(warm.code, 0, warm.stderr);
      assert.deepEqual(warm.spawns, [], "a warm bake starts no process");
      const digests = readFileSync(join(home, "cache", "digests.json"), "utf8");
      // The image's parts are remembered too: the launch that follows a bake reads neither back.
      const entries = JSON.parse(digests).entries as Record<string, { sha256: string; ctime: string }>;
      const manifest = JSON.parse(readFileSync(join(OUT, "warm", "manifest.json"), "utf8"));
      for (const part of ["kernel", "initrd"]) {
        const st = statSync(join(OUT, "warm", part), { bigint: true });
        const e = entries[`${st.dev}:${st.ino}`];
        assert.equal(e?.sha256, manifest[part].sha256, `the image's ${part}`);
        // Taken as the file is now (the old image's removal changed its ctime), or it would serve nobody.
        assert.equal(e?.ctime, String(st.ctimeNs), `the image's ${part}: remembered as it is in place`);
      }
      // Re-baking into the same OUT takes the unchanged kernel over (a link, not a 14 MB copy)...
      assert.equal(statSync(join(OUT, "warm", "kernel")).ino, firstKernel);
      // ...but not one damaged since (same size, mtime put back): the new image gets the store's bytes.
      const oldKernel = join(OUT, "warm", "kernel");
      const times = statSync(oldKernel);
      const damaged = readFileSync(oldKernel);
      damaged[damaged.length - 1] ^= 0xff;
      writeFileSync(oldKernel, damaged);
      utimesSync(oldKernel, times.atime, times.mtime);
      const again = await runKiln(["bake", "qemu", join(OUT, "warm"), hello], { home });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(
        createHash("sha256")
          .update(readFileSync(join(OUT, "warm", "kernel")))
          .digest("hex"),
        manifest.kernel.sha256,
      );

      const trees = join(home, "store", "trees");
      const vmlinuz = findFile(trees, (n) => n.startsWith("vmlinuz-"));
      assert.ok(vmlinuz, "the stock kernel is in the store");
      assert.ok(digests.includes(String(statSync(vmlinuz).ino)), "the kernel's digest is cached");
      // Same size, and the old mtime put back: only the ctime (which nobody can set) tells.
      const { atime, mtime } = statSync(vmlinuz);
      const bytes = readFileSync(vmlinuz);
      bytes[bytes.length - 100] ^= 0xff;
      writeFileSync(vmlinuz, bytes);
      utimesSync(vmlinuz, atime, mtime);
      const before = snapshot(join(home, "store"));
      const r = await runKiln(["bake", "qemu", join(OUT, "x"), hello], { home });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /KILN_ESTORE_CORRUPT/);
      assert.match(r.stderr, /hint: .*kiln components fetch/);
      assert.deepEqual(snapshot(join(home, "store")), before);
      assert.ok(!existsSync(join(OUT, "x")));
      rmSync(home, { recursive: true, force: true });
    });

    test("a re-bake with nothing changed is answered from the memo and writes nothing; a changed input, a touched image or a damaged store bakes", async () => {
      const home = privateHome("memo-home");
      const out = join(OUT, "memo");
      rmSync(out, { recursive: true, force: true });
      const prog = join(WORK, "memo-hello");
      cpSync(hello, prog);
      const site = join(WORK, "memo-site");
      rmSync(site, { recursive: true, force: true });
      mkdirSync(site);
      writeFileSync(join(site, "index.html"), "hi");
      const args = ["bake", "qemu", out, prog, "--add", `${site}:/srv`, "--json"];
      const bake = async (env: NodeJS.ProcessEnv = {}) => {
        const r = await runKiln(args, { home, env });
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout);
      };
      const files = () =>
        readdirSync(out)
          .sort()
          .map((n) => {
            const st = statSync(join(out, n), { bigint: true });
            return `${n} ${st.ino} ${st.ctimeNs}`;
          });
      const cold = await bake();
      assert.equal(cold.upToDate, false);
      // A cold bake asked dpkg for the host's facts: what a process read is unseen, so it was not remembered.
      const first = await bake();
      assert.equal(first.upToDate, false, "the cold bake was not remembered");
      const written = files();
      const again = await bake();
      assert.equal(again.upToDate, true, "nothing changed");
      assert.deepEqual(files(), written, "the image was left as it was, not written again");
      assert.deepEqual(again.manifest, first.manifest, "and the result is the one the bake gave");
      // Printed otherwise, it is another command: it bakes once, then is answered as it printed.
      const text = await runKiln(args.slice(0, -1), { home });
      assert.match(text.stdout, /^baked memo-hello for qemu into \S+\n/);
      const textAgain = await runKiln(args.slice(0, -1), { home });
      assert.match(textAgain.stdout, /^baked memo-hello for qemu into .*\(up to date/);

      // The same bytes written again: a new identity, so a bake (the initrd takes the program's new mtime).
      writeFileSync(prog, readFileSync(prog));
      const rewritten = await bake();
      assert.equal(rewritten.upToDate, false, "the program rewritten");
      assert.equal(rewritten.manifest.programs[0].sha256, first.manifest.programs[0].sha256);
      // A file added to an --add directory is an input: the directory was listed.
      writeFileSync(join(site, "new.html"), "new");
      const added = await bake();
      assert.equal(added.upToDate, false, "a file added to an --add directory");
      assert.ok(added.manifest.files.some((f: { path: string }) => f.path === "/srv/new.html"));
      // The environment is part of the request: SOURCE_DATE_EPOCH sets the initrd's times.
      const epoch = await bake({ SOURCE_DATE_EPOCH: "1" });
      assert.equal(epoch.upToDate, false, "another SOURCE_DATE_EPOCH");
      assert.equal(epoch.manifest.initrd.mtime, 1);
      assert.equal((await bake({ SOURCE_DATE_EPOCH: "1" })).upToDate, true);

      // The user's file in the image: not up to date, and not kiln's to replace (as without a memo).
      writeFileSync(join(out, "notes.txt"), "mine");
      const refused = await runKiln(args, { home, env: { SOURCE_DATE_EPOCH: "1" } });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stdout + refused.stderr, /KILN_EOUT_EXISTS/);
      rmSync(join(out, "notes.txt"));

      // A store damaged since (same size, mtime put back) is caught, where the memo would have answered.
      await bake();
      assert.equal((await bake()).upToDate, true);
      const vmlinuz = findFile(join(home, "store", "trees"), (n) => n.startsWith("vmlinuz-"));
      assert.ok(vmlinuz);
      const { atime, mtime } = statSync(vmlinuz);
      const bytes = readFileSync(vmlinuz);
      bytes[bytes.length - 100] ^= 0xff;
      writeFileSync(vmlinuz, bytes);
      utimesSync(vmlinuz, atime, mtime);
      const damaged = await runKiln(args, { home });
      assert.equal(damaged.code, 1, damaged.stderr);
      assert.match(damaged.stdout + damaged.stderr, /KILN_ESTORE_CORRUPT/);
      rmSync(home, { recursive: true, force: true });
    });

    test("OUT that is a directory of other files is not overwritten", async () => {
      const dir = join(WORK, "precious");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "thesis.txt"), "do not delete");
      await expectError(["qemu", dir, hello], "KILN_EOUT_EXISTS");
      assert.equal(readFileSync(join(dir, "thesis.txt"), "utf8"), "do not delete");
    });
  });
});

/**
 * A private copy of the shared home, so that a corruption does not leak into other tests: only what a bake
 * reads (the stock kernel's pointer and tree, the toolchain, the kiln-init cache).
 */
function privateHome(name: string): string {
  const home = join(WORK, name);
  rmSync(home, { recursive: true, force: true });
  const stock = JSON.parse(readFileSync(join(sharedHome(), "components", "stock.json"), "utf8")).sha256;
  const treeDir = readdirSync(join(sharedHome(), "store", "trees")).find((d) => d.includes(stock));
  assert.ok(treeDir, "the stock kernel's tree is in the shared store");
  for (const part of ["components/stock.json", `store/trees/${treeDir}`, "toolchains", "cache/kiln-init"]) {
    cpSync(join(sharedHome(), part), join(home, part), { recursive: true });
  }
  return home;
}

function findFile(dir: string, match: (name: string) => boolean): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(p, match);
      if (f) return f;
    } else if (match(e.name)) return p;
  }
  return undefined;
}

function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(`${p}:${readFileSync(p).length}`);
    }
  };
  walk(dir);
  return out;
}
