// What goes into an image is what was named, and the manifest says what is there: --add trees keep their
// symlinks as symlinks and refuse links that lead out; a project's [image.files] stay inside the project;
// kiln's own /init and /kiln/ take nothing else; two sources for one path are refused. Debian's cpio reads the
// initrd back and every entry is compared with the manifest. Every entry carries the newest input's time (or
// SOURCE_DATE_EPOCH), not 1970, and kiln verify still makes the same bytes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { prepareRun } from "../../src/run/prepareRun.js";
import { ROOT, runKiln, sharedHome, tmpDir } from "../helpers.js";
import { helloProgram } from "./fixtures.js";

const tmp = tmpDir("kiln-sources-");
let hello = "";
before(async () => {
  hello = await helloProgram();
});
after(() => tmp.cleanup());

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function bakeFails(args: string[], code: string, message: RegExp): Promise<void> {
  const out = join(tmp.path, `refused-${code}`);
  const r = await runKiln(["bake", "qemu", out, hello, ...args, "--json"]);
  assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  const e = JSON.parse(r.stdout).error;
  assert.equal(e.code, code, r.stdout);
  assert.match(e.message, message);
  assert.ok(!readdirSync(tmp.path).includes(`refused-${code}`), "no image written");
}

/** Every entry of the initrd as Debian's cpio extracts it: path → { type, sha256 | target }. */
function extract(image: string): Map<string, { type: string; sha256?: string; target?: string }> {
  const dir = join(tmp.path, `x-${Math.random().toString(36).slice(2)}`);
  mkdirSync(dir);
  execFileSync("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], {
    cwd: dir,
    input: readFileSync(join(image, "initrd")),
  });
  const out = new Map<string, { type: string; sha256?: string; target?: string }>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const r = `${rel}/${e.name}`;
      if (e.isSymbolicLink())
        out.set(r, { type: "link", target: execFileSync("readlink", [p]).toString().trim() });
      else if (e.isDirectory()) walk(p, r);
      else out.set(r, { type: "file", sha256: sha(readFileSync(p)) });
    }
  };
  walk(dir, "");
  return out;
}

/** The manifest's account of the initrd, in the same shape: every file kiln put there, by whom. */
function described(image: string): Map<string, { type: string; sha256?: string; target?: string }> {
  const m = JSON.parse(readFileSync(join(image, "manifest.json"), "utf8"));
  const out = new Map<string, { type: string; sha256?: string; target?: string }>();
  const put = (path: string, v: { type: string; sha256?: string; target?: string }) => {
    assert.ok(!out.has(path), `the manifest describes ${path} twice`);
    out.set(path, v);
  };
  put(m.init.path, { type: "file", sha256: m.init.sha256 });
  put("/kiln/image.json", { type: "file", sha256: sha(Buffer.from(`${JSON.stringify(m.config)}\n`)) });
  for (const p of m.programs) put(p.path, { type: "file", sha256: p.sha256 });
  for (const x of m.modules) put(x.path, { type: "file", sha256: x.sha256 });
  for (const f of m.files) put(f.path, { type: "file", sha256: f.sha256 });
  for (const l of m.links ?? []) put(l.path, { type: "link", target: l.target });
  return out;
}

function assertDescribed(image: string): void {
  const real = extract(image);
  const said = described(image);
  // /kiln/modules is derived from the modules listed; everything else must match entry for entry.
  real.delete("/kiln/modules");
  assert.deepEqual(Object.fromEntries([...real].sort()), Object.fromEntries([...said].sort()));
}

test("--add DIR keeps symlinks inside DIR as symlinks and refuses those that lead out, naming them", async () => {
  const secret = join(tmp.path, "secret.txt");
  writeFileSync(secret, "host secret");
  const site = join(tmp.path, "site");
  mkdirSync(join(site, "css"), { recursive: true });
  writeFileSync(join(site, "index.html"), "<h1>hi</h1>");
  writeFileSync(join(site, "css", "a.css"), "body{}");
  symlinkSync("index.html", join(site, "home.html"));
  symlinkSync("../index.html", join(site, "css", "up.html"));
  const img = join(tmp.path, "site-image");
  const r = await runKiln([
    "bake",
    "qemu",
    img,
    hello,
    "--add",
    `${site}:/srv/www`,
    "--kernel",
    "stock",
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const listing = execFileSync("cpio", ["-itv", "--quiet"], {
    input: readFileSync(join(img, "initrd")),
  }).toString();
  assert.match(listing, /^l.* srv\/www\/home\.html -> index\.html$/m);
  assert.match(listing, /^l.* srv\/www\/css\/up\.html -> \.\.\/index\.html$/m);
  assertDescribed(img);

  for (const [name, to] of [
    ["abs", "/etc/shadow"],
    ["out", "../../secret.txt"],
  ]) {
    const dir = join(tmp.path, `leak-${name}`);
    cpSync(site, dir, { recursive: true, verbatimSymlinks: true });
    symlinkSync(to, join(dir, "css", "leak"));
    await bakeFails(
      ["--add", `${dir}:/srv/www`],
      "KILN_EADD_SYMLINK",
      new RegExp(`css/leak.*${to.replaceAll(".", "\\.")}`),
    );
  }
  // Through another link of the tree: "d/../secret.txt" looks inside, but d is the tree's root.
  const chained = join(tmp.path, "leak-chained");
  cpSync(site, chained, { recursive: true, verbatimSymlinks: true });
  symlinkSync(".", join(chained, "d"));
  symlinkSync("d/../secret.txt", join(chained, "e"));
  await bakeFails(["--add", `${chained}:/srv/www`], "KILN_EADD_SYMLINK", /"d\/\.\.\/secret\.txt"/);
  // SRC itself is taken as named, a link included.
  const named = join(tmp.path, "named-link");
  symlinkSync(join(site, "index.html"), named);
  const viaLink = await runKiln([
    "bake",
    "qemu",
    join(tmp.path, "named-image"),
    hello,
    "--add",
    `${named}:/etc/x`,
    "--quiet",
  ]);
  assert.equal(viaLink.code, 0, viaLink.stderr);
  // A loop is a loop, not a missing file.
  const loop = join(tmp.path, "loop");
  symlinkSync(loop, loop);
  await bakeFails(["--add", `${loop}:/etc/x`], "KILN_ELOOP", /loop/);
});

test("kiln's /init and /kiln/ take nothing from --add; two sources for one path are refused", async () => {
  const f = join(tmp.path, "fake-init");
  writeFileSync(f, "#!/bin/sh\necho pwned\n");
  await bakeFails(["--add", `${f}:/init`], "KILN_EPATH_RESERVED", /\/init is kiln-init/);
  await bakeFails(["--add", `${f}:/kiln/image.json`], "KILN_EPATH_RESERVED", /\/kiln\//);
  await bakeFails(["--add", `${f}://kiln/./config.json`], "KILN_EPATH_RESERVED", /\/kiln\//);
  const g = join(tmp.path, "other");
  writeFileSync(g, "other");
  await bakeFails(["--add", `${f}:/etc/x`, "--add", `${g}:/etc//x`], "KILN_EPATH_CONFLICT", /"\/etc\/x"/);
  await bakeFails(["--add", `${f}:/bin/hello`], "KILN_EPATH_CONFLICT", /program .*hello/);
});

test("[image.files]: paths stay inside the project; --add wins for the same destination; the manifest matches the initrd", async () => {
  const secret = join(tmp.path, "project-secret");
  writeFileSync(secret, "host secret");
  const make = (name: string, files: string) => {
    const dir = join(tmp.path, name);
    cpSync(join(ROOT, "examples", "hello"), dir, { recursive: true });
    writeFileSync(join(dir, "greeting.txt"), "hello from the project\n");
    writeFileSync(join(dir, "kiln.toml"), `[image.files]\n${files}\n`);
    return dir;
  };
  const env = { ...process.env, KILN_HOME: sharedHome() };
  const dotdot = make("p-dotdot", '"/etc/shadow" = "../../../../etc/shadow"');
  await assert.rejects(prepareRun({ target: dotdot, env }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, "KILN_ETOML_INVALID", e.message);
    assert.match(e.message, /image\.files/);
    return true;
  });
  const linked = make("p-link", '"/etc/secret" = "secret"');
  symlinkSync(secret, join(linked, "secret"));
  await assert.rejects(prepareRun({ target: linked, env }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, "KILN_EIMAGE_FILE_OUTSIDE", e.message);
    assert.ok(e.message.includes(JSON.stringify(secret)), e.message);
    return true;
  });
  const ok = make("p-ok", '"/etc/greeting" = "greeting.txt"');
  const mine = join(tmp.path, "my-greeting");
  writeFileSync(mine, "hello from the command line\n");
  const r = await prepareRun({ target: ok, env, add: [{ src: mine, dest: "/etc/greeting" }] });
  const m = JSON.parse(readFileSync(join(r.image, "manifest.json"), "utf8"));
  assert.deepEqual(
    m.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]),
    [["/etc/greeting", sha(readFileSync(mine))]],
  );
  assertDescribed(r.image);
});

test("entries carry SOURCE_DATE_EPOCH, else the newest input's time, recorded in the manifest; kiln verify agrees", async () => {
  const conf = join(tmp.path, "app.conf");
  writeFileSync(conf, "x = 1\n");
  const sde = join(tmp.path, "sde-image");
  const a = await runKiln(
    ["bake", "qemu", sde, hello, "--add", `${conf}:/etc/app.conf`, "--kernel", "stock", "--quiet"],
    {
      env: { SOURCE_DATE_EPOCH: "1700000000" },
    },
  );
  assert.equal(a.code, 0, a.stderr);
  const listing = (img: string) =>
    execFileSync("cpio", ["-itv", "--quiet"], {
      input: readFileSync(join(img, "initrd")),
      env: { ...process.env, TZ: "UTC" },
    })
      .toString()
      .trim()
      .split("\n");
  for (const line of listing(sde)) assert.match(line, / Nov 14 {2}2023 /, line);
  assert.equal(JSON.parse(readFileSync(join(sde, "manifest.json"), "utf8")).initrd.mtime, 1700000000);

  // Without it: the newest of the inputs. The program is older; the added file is the newest.
  utimesSync(conf, 1_600_000_000, 1_600_000_000); // 2020-09-13
  const pinned = join(tmp.path, "hello-pinned");
  cpSync(hello, pinned);
  utimesSync(pinned, 1_500_000_000, 1_500_000_000); // 2017-07-14
  const img = join(tmp.path, "newest-image");
  const b = await runKiln([
    "bake",
    "qemu",
    img,
    pinned,
    "--add",
    `${conf}:/etc/app.conf`,
    "--kernel",
    "stock",
    "--quiet",
  ]);
  assert.equal(b.code, 0, b.stderr);
  for (const line of listing(img)) assert.match(line, / Sep 13 {2}2020 /, line);
  assert.equal(JSON.parse(readFileSync(join(img, "manifest.json"), "utf8")).initrd.mtime, 1_600_000_000);

  for (const image of [sde, img]) {
    const v = await runKiln(["verify", image, "--json"]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal(JSON.parse(v.stdout).same, true);
  }
});
