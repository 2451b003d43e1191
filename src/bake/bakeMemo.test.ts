import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type Tracked, trackReads } from "../core/readTracker.js";
import { bakeKey, recallBake, rememberBake } from "./bakeMemo.js";

const said = (n: number, stderr = "") => ({ stdout: `baked ${n}\n`, stderr });

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-memo-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, KILN_HOME: join(dir, "home") };
  const input = join(dir, "program");
  const out = join(dir, "img");
  writeFileSync(input, "program bytes");
  /** A stand-in for a bake: reads its input (and the kernel's state), writes OUT from it. */
  const work = async (during?: () => void): Promise<Tracked> => {
    const stop = trackReads();
    try {
      const bytes = await readFile(input);
      readFileSync("/proc/self/stat");
      during?.();
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      writeFileSync(join(out, "initrd"), bytes);
      readFileSync(join(out, "initrd"));
    } catch (e) {
      stop();
      throw e;
    }
    return stop();
  };
  return { dir, env, input, out, work };
}

test("a bake is answered from its memo until an input or the image changes", async (t) => {
  const { dir, env, input, out, work } = setup(t);
  const key = bakeKey(["bake", "qemu", out], env);
  assert.equal(recallBake(key, env), undefined, "nothing remembered yet");
  const tracked = await work();
  assert.ok(tracked.inputs.has(input));
  assert.equal(await rememberBake(key, out, tracked, said(1, "chose\n"), env), undefined);
  const memo = JSON.parse(readFileSync(join(env.KILN_HOME, "cache", "bakes", `${key}.json`), "utf8"));
  const inputs = memo.inputs.map(([p]: [string]) => p);
  assert.ok(inputs.includes(input), "the program is an input");
  assert.ok(!inputs.some((p: string) => p.startsWith("/proc/")), "kernel state is not");
  assert.ok(!inputs.some((p: string) => p.startsWith(out)), "nor the image it wrote");
  assert.deepEqual(recallBake(key, env), said(1, "chose\n"));
  assert.deepEqual(recallBake(key, env), said(1, "chose\n"), "and again");

  // The same bytes written again: a new identity, so the bake runs.
  writeFileSync(input, "program bytes");
  assert.equal(recallBake(key, env), undefined, "an input rewritten");
  await rememberBake(key, out, await work(), said(2), env);
  assert.deepEqual(recallBake(key, env), said(2));

  writeFileSync(join(out, "thesis.txt"), "the user's");
  assert.equal(recallBake(key, env), undefined, "a file added to the image");
  rmSync(join(out, "thesis.txt"));
  rmSync(out, { recursive: true });
  assert.equal(recallBake(key, env), undefined, "the image removed");
  assert.equal(recallBake(bakeKey(["bake", "qemu", join(dir, "elsewhere")], env), env), undefined);
});

test("a bake whose input changed while it ran, or that started a process, is not remembered", async (t) => {
  const { env, input, out, work } = setup(t);
  const key = bakeKey(["bake", "qemu", out], env);
  // Someone else's write: through a descriptor opened before, which tracking does not see as the work's.
  const fd = openSync(input, "r+");
  t.after(() => closeSync(fd));
  const raced = await work(() => writeSync(fd, "edited meanwhile"));
  const why = await rememberBake(key, out, raced, said(0), env);
  assert.match(why ?? "", /program changed while it was read/);
  assert.equal(recallBake(key, env), undefined);

  const spawned = await work(() => spawnSync("true"));
  assert.match((await rememberBake(key, out, spawned, said(0), env)) ?? "", /started true/);
  assert.ok(!existsSync(join(env.KILN_HOME, "cache", "bakes", `${key}.json`)));
});

test("the key is the command's words, the environment and the directory it runs in", (t) => {
  const { env, out } = setup(t);
  const key = bakeKey(["bake", "qemu", out], env);
  assert.equal(bakeKey(["bake", "qemu", out], { ...env }), key);
  assert.notEqual(bakeKey(["bake", "xen", out], env), key);
  assert.notEqual(bakeKey(["bake", "qemu", out, "--json"], env), key, "printed otherwise");
  assert.notEqual(bakeKey(["bake", "qemu", out], { ...env, SOURCE_DATE_EPOCH: "1" }), key);
  const cwd = process.cwd();
  process.chdir(tmpdir());
  t.after(() => process.chdir(cwd));
  assert.notEqual(bakeKey(["bake", "qemu", out], env), key);
});

test("only the newest memos are kept", async (t) => {
  const { env, out, work } = setup(t);
  const tracked = await work();
  for (let i = 0; i < 66; i++)
    await rememberBake(bakeKey(["bake", String(i)], env), out, tracked, said(i), env);
  assert.equal(readdirSync(join(env.KILN_HOME, "cache", "bakes")).length, 64);
  assert.deepEqual(recallBake(bakeKey(["bake", "65"], env), env), said(65));
});
