import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildTimeline, timelineText } from "./timeline.js";

const line = (at: number, text: string) => ({ at, text });

describe("buildTimeline", () => {
  it("puts guest timings on kiln's axis and covers the run from start to end", () => {
    const t = buildTimeline(
      {
        spawnedAt: 300,
        lines: [
          // Guest zero: the soonest arrival minus guest time, 460 - 100 = 360 (the later lines are delayed).
          line(460, "kiln: debug: kiln-init 1"),
          line(460, "kiln: debug: 0.100 s started"),
          line(480, "kiln: debug: 0.110 s mounted /dev /proc /sys"),
          line(490, "kiln: debug: 0.120 s configuration read"),
          line(520, "kiln: debug: 0.150 s modules loaded"),
          line(560, "kiln: debug: 0.190 s network configured"),
          line(580, "kiln: debug: 0.200 s started /bin/hello (main, pid 40)"),
          line(600, "Hello"),
          line(650, "kiln: exit 0"),
        ],
      },
      700,
    );
    assert.deepEqual(
      t.stages.map((s) => [s.name, s.ms]),
      [
        ["kiln", 300],
        ["qemu", 60],
        ["kernel", 100],
        ["init", 20],
        ["modules", 30],
        ["network", 40],
        ["first output", 50],
        ["program", 50],
        ["exit", 50],
      ],
    );
    assert.equal(
      t.stages.reduce((n, s) => n + s.ms, 0),
      t.totalMs,
    );
    assert.equal(t.totalMs, 700);
    assert.match(timelineText(t), /^ {2}kernel +0\.100 s {2}the kernel booting/m);
  });

  it("leaves out stages without marks and gives their time to the next, never going backwards", () => {
    const t = buildTimeline({ spawnedAt: 200, lines: [line(900, "Hello"), line(950, "kiln: exit 0")] }, 1000);
    assert.deepEqual(
      t.stages.map((s) => [s.name, s.ms]),
      [
        ["kiln", 200],
        ["program", 750],
        ["exit", 50],
      ],
    );
    // A guest clock ahead of kiln's cannot make a stage negative or pass the end.
    const skew = buildTimeline(
      { spawnedAt: 100, lines: [line(150, "kiln: debug: 5.000 s started"), line(160, "kiln: exit 0")] },
      200,
    );
    assert.ok(skew.stages.every((s) => s.ms >= 0));
    assert.equal(
      skew.stages.reduce((n, s) => n + s.ms, 0),
      200,
    );
  });
});
