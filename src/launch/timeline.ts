/**
 * Where an attached run's time went, from three clocks put on one axis: kiln's own (milliseconds since its
 * process started), the arrival of each console line, and the guest's CLOCK_MONOTONIC that kiln-init prints
 * with `kiln.debug=1` (`kiln: debug: 0.412 s modules loaded`). The guest clock starts near kernel entry;
 * its zero on kiln's axis is taken from the debug line that arrived soonest after its guest time (the serial
 * console only ever delays a line). The stages are consecutive and cover the run from kiln's start to now,
 * so they add up to the wall time; a stage whose marks are missing (a program that never printed, an image
 * whose init printed no timings) is left out and its time goes to the next one.
 */

export interface ConsoleLineAt {
  /** Milliseconds since kiln's process started (performance.now()). */
  at: number;
  text: string;
}

export interface TimelineEvents {
  /** When the hypervisor process was started. */
  spawnedAt: number;
  lines: ConsoleLineAt[];
}

export interface TimelineStage {
  name: string;
  /** What happens in it. */
  what: string;
  startMs: number;
  ms: number;
}

export interface Timeline {
  totalMs: number;
  stages: TimelineStage[];
}

const DEBUG = /kiln: debug: (\d+)\.(\d{3}) s (.*?)\r?$/;

/** Guest seconds of each kiln-init debug mark, and the line's arrival. */
function debugMarks(lines: ConsoleLineAt[]): { guestMs: number; at: number; what: string }[] {
  const out: { guestMs: number; at: number; what: string }[] = [];
  for (const l of lines) {
    const m = DEBUG.exec(l.text);
    if (m) out.push({ guestMs: Number(m[1]) * 1000 + Number(m[2]), at: l.at, what: m[3]! });
  }
  return out;
}

/** The program's first line: after main started, neither kiln-init's nor the kernel's. */
function firstOutput(lines: ConsoleLineAt[]): number | undefined {
  let main = false;
  for (const l of lines) {
    if (/kiln: debug: .* \(main, pid \d+\)/.test(l.text)) {
      main = true;
      continue;
    }
    if (!main) continue;
    if (/^kiln: /.test(l.text) || /^\[\s*\d+\.\d+\] /.test(l.text)) continue;
    return l.at;
  }
  return undefined;
}

export function buildTimeline(ev: TimelineEvents, now: number): Timeline {
  const marks = debugMarks(ev.lines);
  const zero = marks.length ? Math.min(...marks.map((m) => m.at - m.guestMs)) : undefined;
  const guest = (what: (s: string) => boolean) => {
    const m = marks.find((x) => what(x.what));
    return m && zero !== undefined ? zero + m.guestMs : undefined;
  };
  const exitLine = ev.lines.find((l) => /kiln: exit \d+\r?$/.test(l.text))?.at;
  // Each boundary ends the stage named beside it.
  const bounds: [string, string, number | undefined][] = [
    ["kiln", "build, bake and machine set-up, until QEMU starts", ev.spawnedAt],
    ["qemu", "QEMU starting, loading the kernel and its earliest set-up, until the guest clock starts", zero],
    ["kernel", "the kernel booting, until kiln-init starts", guest((w) => w === "started")],
    [
      "init",
      "kiln-init mounting /dev /proc /sys and reading its configuration",
      guest((w) => w === "configuration read"),
    ],
    ["modules", "loading kernel modules", guest((w) => w === "modules loaded")],
    ["network", "configuring network interfaces", guest((w) => w === "network configured")],
    ["first output", "disks, then starting the program, until its first output", firstOutput(ev.lines)],
    ["program", "the program running, until its exit", exitLine],
    ["exit", "powering off, QEMU exiting, kiln finishing", now],
  ];
  const stages: TimelineStage[] = [];
  let prev = 0;
  for (const [name, what, at] of bounds) {
    if (at === undefined) continue;
    const end = Math.min(Math.max(at, prev), now);
    stages.push({ name, what, startMs: round(prev), ms: round(end - prev) });
    prev = end;
  }
  return { totalMs: round(now), stages };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** One line per stage, for stderr. */
export function timelineText(t: Timeline): string {
  const width = Math.max(...t.stages.map((s) => s.name.length));
  return [
    `kiln: timeline (${(t.totalMs / 1000).toFixed(2)} s in all)`,
    ...t.stages.map((s) => `  ${s.name.padEnd(width)}  ${(s.ms / 1000).toFixed(3).padStart(7)} s  ${s.what}`),
  ].join("\n");
}
