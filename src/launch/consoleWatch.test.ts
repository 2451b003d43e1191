import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConsoleWatch, consoleFacts } from "./consoleWatch.js";

describe("console watch", () => {
  it("takes the exit status from kiln-init's last line, across chunk boundaries and CR LF", () => {
    const w = new ConsoleWatch();
    const lines: string[] = [];
    w.onLine((l) => lines.push(l));
    for (const chunk of ["hello\r\nkiln: ex", "it 4", "2\r\n"]) w.feed(chunk);
    assert.equal(w.facts.exitStatus, 42);
    assert.deepEqual(lines, ["hello\r", "kiln: exit 42\r"]);
  });

  it("keeps a UTF-8 character whole when the console splits it between two chunks", () => {
    const w = new ConsoleWatch();
    const lines: string[] = [];
    w.onLine((l) => lines.push(l));
    const bytes = Buffer.from("env: GREETING=caf\u00e9\nkiln: exit 0\n");
    const cut = bytes.indexOf(0xc3) + 1;
    w.feed(bytes.subarray(0, cut));
    w.feed(bytes.subarray(cut));
    assert.deepEqual(lines, ["env: GREETING=caf\u00e9", "kiln: exit 0"]);
  });

  it("reads a final line without a newline when the stream ends", () => {
    const w = new ConsoleWatch();
    w.feed("kiln: exit 3");
    assert.equal(w.facts.exitStatus, undefined);
    w.end();
    assert.equal(w.facts.exitStatus, 3);
  });

  it("sees the exit line glued to a program's last output that had no newline", () => {
    assert.equal(consoleFacts("no newline at the endkiln: exit 4\r\n").exitStatus, 4);
  });

  it("ignores look-alikes and out-of-range statuses, sees config errors and readiness", () => {
    const f = consoleFacts(
      "kiln: exit 9 then more\nkiln: exit 999\nkiln: exit x\nkiln: config error: net.0.addr: bad\nkiln: ready (no program)\n",
    );
    assert.equal(f.exitStatus, undefined);
    assert.equal(f.configError, "net.0.addr: bad");
    assert.equal(f.ready, true);
    assert.equal(consoleFacts("").output, false);
  });
});
