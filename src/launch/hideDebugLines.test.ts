import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hideDebugLines } from "./hideDebugLines.js";

function through(chunks: string[]): string[] {
  const writes: string[] = [];
  const f = hideDebugLines((b) => writes.push(b.toString()));
  for (const c of chunks) f.feed(Buffer.from(c));
  f.end();
  return writes;
}

describe("hideDebugLines", () => {
  it("drops kiln-init's timing lines, also when split across chunks, and keeps the rest", () => {
    const out = through([
      "kiln: debug: 0.4",
      "12 s started\r\nHello\r\nkil",
      "n: debug: 0.5 s modules loaded\nkiln: exit 0\n",
    ]).join("");
    assert.equal(out, "Hello\r\nkiln: exit 0\n");
  });

  it("passes a partial line at once unless it may still be a debug line", () => {
    assert.deepEqual(through(["name? ", "bob\n"]), ["name? ", "bob\n"]);
    // Held back while it could be one, then given out whole at the end of the stream.
    assert.deepEqual(through(["kiln: de"]), ["kiln: de"]);
    assert.deepEqual(through(["kiln: exit 3\n"]), ["kiln: exit 3\n"]);
  });
});
