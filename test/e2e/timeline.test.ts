// --timeline: one line per stage of a real boot, taken from kiln-init's timings and the console, adding up to
// the wall time a watch outside kiln measures (within 10%).
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT, runKiln, tmpDir } from "../helpers.js";
import { bakeImage, helloProgram } from "./fixtures.js";

const HELLO = join(ROOT, "examples", "hello");
const STAGES = ["kiln", "qemu", "kernel", "init", "modules", "network", "first output", "program", "exit"];

async function timed(args: string[]) {
  const t0 = performance.now();
  const r = await runKiln(args, { timeoutMs: 180_000 });
  return { ...r, wallMs: performance.now() - t0 };
}

/** `roundingMs`: the human lines print milliseconds and the total in hundredths of a second. */
function assertAddsUp(
  stages: { name: string; ms: number }[],
  totalMs: number,
  wallMs: number,
  roundingMs = 1,
): void {
  const sum = stages.reduce((n, s) => n + s.ms, 0);
  assert.ok(Math.abs(sum - wallMs) <= 0.1 * wallMs, `stages ${sum} ms, wall ${wallMs} ms`);
  assert.ok(Math.abs(totalMs - sum) <= roundingMs, `total ${totalMs} ms, sum ${sum} ms`);
  for (const s of stages) assert.ok(s.ms >= 0, `${s.name}: ${s.ms}`);
}

/** The --json timeline of a finished run: every stage, in order, adding up to the wall time. */
function assertJsonTimeline(r: { code: number; stdout: string; stderr: string; wallMs: number }) {
  assert.equal(r.code, 0, r.stderr);
  const t = JSON.parse(r.stdout).timeline as { totalMs: number; stages: { name: string; ms: number }[] };
  assert.deepEqual(
    t.stages.map((s) => s.name),
    STAGES,
  );
  assertAddsUp(t.stages, t.totalMs, r.wallMs);
  return t;
}

describe("--timeline", { timeout: 10 * 60_000 }, () => {
  test("kiln run: every stage, in order, adding up to the wall time; the same data in --json", async () => {
    // Built and baked once, so the measured runs are the launch path.
    assert.equal((await runKiln(["run", HELLO, "--kernel", "stock", "-q"])).code, 0);
    const r = await timed(["run", HELLO, "--kernel", "stock", "--net", "user", "--timeline"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hello from kiln!\r?$/m);
    assert.doesNotMatch(r.stdout, /kiln: debug:/, "the timings are for the timeline, not the console");
    const lines = r.stderr.slice(r.stderr.indexOf("kiln: timeline")).trimEnd().split("\n");
    assert.match(lines[0]!, /^kiln: timeline \(\d+\.\d\d s in all\)$/);
    const rows = lines.slice(1).map((l) => /^ {2}(.+?) +(\d+\.\d{3}) s {2}\S/.exec(l));
    assert.deepEqual(
      rows.map((m) => m?.[1]),
      STAGES,
      r.stderr,
    );
    assertAddsUp(
      rows.map((m) => ({ name: m![1]!, ms: Number(m![2]) * 1000 })),
      Number(/\((\d+\.\d\d) s in all\)/.exec(lines[0]!)![1]) * 1000,
      r.wallMs,
      10,
    );

    const t = assertJsonTimeline(await timed(["run", HELLO, "--kernel", "stock", "--timeline", "--json"]));
    // The guest's own stages are measured, not padding: the kernel takes a visible part of a boot.
    assert.ok(t.stages.find((s) => s.name === "kernel")!.ms > 50, JSON.stringify(t));
  });

  test("kiln launch: the same stages for a baked image; refused with --detach", async () => {
    const tmp = tmpDir("kiln-timeline-");
    try {
      const image = await bakeImage(join(tmp.path, "img"), [await helloProgram()]);
      assertJsonTimeline(await timed(["launch", "qemu", image, "--timeline", "--json"]));
      const d = await runKiln(["launch", "qemu", image, "--timeline", "-d"]);
      assert.equal(d.code, 2, d.stderr);
      assert.match(d.stderr, /KILN_EOPTION_CONFLICT/);
      // kiln run refuses it before building or baking anything.
      const src = join(tmp.path, "never.c");
      const r2 = await runKiln(["run", src, "--timeline", "-d"]);
      assert.equal(r2.code, 2, r2.stderr);
      assert.match(r2.stderr, /KILN_EOPTION_CONFLICT: Cannot use "--timeline" with "--detach"/);
    } finally {
      tmp.cleanup();
    }
  });
});
