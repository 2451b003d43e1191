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
  const key = bakeKey({ platform: "qemu", out }, env);
  assert.equal(recallBake(key, out, env), undefined, "nothing remembered yet");
  const tracked = await work();
  assert.ok(tracked.inputs.has(input));
  assert.equal(await rememberBake(key, out, tracked, { result: { n: 1 }, notice: "chose" }, env), undefined);
  const memo = JSON.parse(readFileSync(join(env.KILN_HOME, "cache", "bakes", `${key}.json`), "utf8"));
  const inputs = memo.inputs.map(([p]: [string]) => p);
  assert.ok(inputs.includes(input), "the program is an input");
  assert.ok(!inputs.some((p: string) => p.startsWith("/proc/")), "kernel state is not");
  assert.ok(!inputs.some((p: string) => p.startsWith(out)), "nor the image it wrote");
  assert.deepEqual(recallBake(key, out, env), { result: { n: 1 }, notice: "chose" });
  assert.deepEqual(recallBake(key, out, env)?.result, { n: 1 }, "and again");

  // The same bytes written again: a new identity, so the bake runs.
  writeFileSync(input, "program bytes");
  assert.equal(recallBake(key, out, env), undefined, "an input rewritten");
  await rememberBake(key, out, await work(), { result: { n: 2 } }, env);
  assert.deepEqual(recallBake(key, out, env)?.result, { n: 2 });

  writeFileSync(join(out, "thesis.txt"), "the user's");
  assert.equal(recallBake(key, out, env), undefined, "a file added to the image");
  rmSync(join(out, "thesis.txt"));
  rmSync(out, { recursive: true });
  assert.equal(recallBake(key, out, env), undefined, "the image removed");
  assert.equal(recallBake(key, join(dir, "elsewhere"), env), undefined, "another OUT under the same key");
});

test("a bake whose input changed while it ran, or that started a process, is not remembered", async (t) => {
  const { env, input, out, work } = setup(t);
  const key = bakeKey({ platform: "qemu", out }, env);
  // Someone else's write: through a descriptor opened before, which tracking does not see as the work's.
  const fd = openSync(input, "r+");
  t.after(() => closeSync(fd));
  const raced = await work(() => writeSync(fd, "edited meanwhile"));
  const why = await rememberBake(key, out, raced, { result: {} }, env);
  assert.match(why ?? "", /program changed while it was read/);
  assert.equal(recallBake(key, out, env), undefined);

  const spawned = await work(() => spawnSync("true"));
  assert.match((await rememberBake(key, out, spawned, { result: {} }, env)) ?? "", /started true/);
  assert.ok(!existsSync(join(env.KILN_HOME, "cache", "bakes", `${key}.json`)));
});

test("the key is the request, the environment and the directory it runs in", (t) => {
  const { env, out } = setup(t);
  const key = bakeKey({ platform: "qemu", out }, env);
  assert.equal(bakeKey({ platform: "qemu", out }, { ...env }), key);
  assert.notEqual(bakeKey({ platform: "xen", out }, env), key);
  assert.notEqual(bakeKey({ platform: "qemu", out }, { ...env, SOURCE_DATE_EPOCH: "1" }), key);
  const cwd = process.cwd();
  process.chdir(tmpdir());
  t.after(() => process.chdir(cwd));
  assert.notEqual(bakeKey({ platform: "qemu", out }, env), key);
});

test("only the newest memos are kept", async (t) => {
  const { env, out, work } = setup(t);
  const tracked = await work();
  for (let i = 0; i < 66; i++)
    await rememberBake(bakeKey({ i, out }, env), out, tracked, { result: { i } }, env);
  assert.equal(readdirSync(join(env.KILN_HOME, "cache", "bakes")).length, 64);
  assert.deepEqual(recallBake(bakeKey({ i: 65, out }, env), out, env)?.result, { i: 65 });
});
