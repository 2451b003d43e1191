import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { isScratchName, scratchBeside, scratchName, sweepScratch } from "./scratchName.js";

const root = mkdtempSync(join(tmpdir(), "kiln-scratch-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, String(n++));
  mkdirSync(d);
  return d;
};

/** The start time (field 22 of /proc/PID/stat) of a process. */
const startOf = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ")[19]!;
};
/** A scratch name as process `pid` (started at `start`) would have made it. */
const nameOf = (stem: string, pid: number, start = startOf(process.pid)) =>
  scratchName(stem).replace(/\.tmp-\d+-\d+-/, `.tmp-${pid}-${start}-`);
const deadPid = () => spawnSync(process.execPath, ["-e", ""]).pid!;

test("a scratch name carries the pid, start time and boot id of its process", () => {
  const boot = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").replace(/-/g, "").slice(0, 8);
  const name = scratchName(".out.img");
  assert.match(
    name,
    new RegExp(`^\\.out\\.img\\.tmp-${process.pid}-${startOf(process.pid)}-${boot}-[0-9a-f]{8}$`),
  );
  assert.notEqual(scratchName(".out.img"), name);
  assert.ok(isScratchName(name) && isScratchName(`${name}.old`));
  assert.ok(!isScratchName("out.img") && !isScratchName(".out.img.tmp-12-x"));
});

test("sweep removes what dead processes left, keeps what live ones are writing", async () => {
  const dir = fresh();
  const dead = deadPid();
  const live = spawn("sleep", ["30"]);
  try {
    const liveName = nameOf(".a", live.pid!, startOf(live.pid!));
    const mine = scratchName(".a");
    const gone = nameOf(".a", dead);
    // The pid of a live process with another start time: the pid was reused, its owner is gone.
    const reused = nameOf(".a", live.pid!, String(Number(startOf(live.pid!)) - 1));
    const otherBoot = scratchName(".a").replace(/-[0-9a-f]{8}-([0-9a-f]{8})$/, "-00000000-$1");
    const legacyDead = `.a.tmp-${dead}-0123abcd`;
    const legacyLive = `.a.tmp-${process.pid}-0123abcd`;
    const legacyBlob = `.blob-${dead}-0123456789ab`;
    for (const f of [
      liveName,
      mine,
      reused,
      otherBoot,
      legacyDead,
      legacyLive,
      legacyBlob,
      "a",
      ".a.tmp-notours",
    ]) {
      writeFileSync(join(dir, f), "x");
    }
    mkdirSync(join(dir, gone));
    writeFileSync(join(dir, gone, "partial"), "x");
    const removed = await sweepScratch(dir);
    assert.deepEqual(
      removed.sort(),
      [gone, reused, otherBoot, legacyDead, legacyBlob].map((f) => join(dir, f)).sort(),
    );
    assert.deepEqual(readdirSync(dir).sort(), [liveName, mine, legacyLive, "a", ".a.tmp-notours"].sort());
  } finally {
    live.kill("SIGKILL");
  }
});

test("a stem limits the sweep to one output's scratch; dry runs only list", async () => {
  const dir = fresh();
  const dead = deadPid();
  const a = nameOf(".a", dead);
  const b = nameOf(".b", dead);
  writeFileSync(join(dir, a), "x");
  writeFileSync(join(dir, b), "x");
  assert.deepEqual(await sweepScratch(dir, { stem: ".a", dryRun: true }), [join(dir, a)]);
  assert.equal(readdirSync(dir).length, 2);
  await sweepScratch(dir, { stem: ".a" });
  assert.deepEqual(readdirSync(dir), [b]);
  const next = await scratchBeside(join(dir, "b"));
  assert.ok(next.startsWith(join(dir, ".b.tmp-")));
  assert.deepEqual(readdirSync(dir), [], "scratchBeside swept b's leftovers");
});

test("an output moved aside by a killed replacement comes back when nothing took its place", async () => {
  const dir = fresh();
  const dead = deadPid();
  const tmp = nameOf(".img", dead);
  mkdirSync(join(dir, tmp));
  mkdirSync(join(dir, `${tmp}.old`));
  writeFileSync(join(dir, `${tmp}.old`, "manifest.json"), "old");
  await sweepScratch(dir);
  assert.deepEqual(readdirSync(dir), ["img"]);
  assert.equal(readFileSync(join(dir, "img", "manifest.json"), "utf8"), "old");
  // With the new output in place, the old one is just debris.
  mkdirSync(join(dir, `${tmp}.old`));
  await sweepScratch(dir);
  assert.deepEqual(readdirSync(dir), ["img"]);
  assert.ok(!existsSync(join(dir, tmp)));
});
