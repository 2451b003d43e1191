import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseNftErrors } from "./firewall.js";

describe("nft's errors", () => {
  it("takes the first error's line, column, message and quoted source line", () => {
    // As Debian 12's nft 1.0.6 prints them (nft -c -f /tmp/bad.nft).
    const stderr = [
      "/tmp/bad.nft:4:23-23: Error: syntax error, unexpected newline",
      "    tcp dport 80 acept",
      "                      ^",
      "/tmp/bad.nft:9:1-1: Error: syntax error, unexpected end of file",
      "}",
      "^",
      "",
    ].join("\n");
    assert.deepEqual(parseNftErrors(stderr, "/tmp/bad.nft"), {
      line: 4,
      column: 23,
      message: "syntax error, unexpected newline",
      source: "    tcp dport 80 acept",
    });
  });

  it("reads errors without a range, ignores other files' lines, and keeps position-less ones at line 0", () => {
    assert.equal(parseNftErrors("/tmp/a.nft:2:5: Error: x\n", "/tmp/a.nft")?.line, 2);
    assert.deepEqual(
      parseNftErrors("Error: Could not process rule: Operation not permitted\n", "/tmp/a.nft"),
      {
        line: 0,
        column: 0,
        message: "Could not process rule: Operation not permitted",
      },
    );
    assert.equal(parseNftErrors("all fine\n", "/tmp/a.nft"), undefined);
  });
});
