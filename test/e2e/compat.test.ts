// The compatibility table's fast subset (scripts/compat-cases.mjs, `fast: true`), through the same runner
// that writes docs/compatibility.md: each Debian package baked as it is, booted, and checked for real.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
// @ts-expect-error: plain JavaScript
import { runCase } from "../../scripts/compat.mjs";
// @ts-expect-error: plain JavaScript, shared with scripts/compat.mjs
import { CASES } from "../../scripts/compat-cases.mjs";
import { sharedHome } from "../helpers.js";

interface Row {
  name: string;
  works: boolean;
  boots: boolean;
  readyMs: number | null;
  sizeMB: number | null;
  version: string;
  cause: string;
}

describe("compatibility table (fast subset)", () => {
  const fast = (CASES as { name: string; fast?: boolean }[]).filter((c) => c.fast);
  test("has a fast subset with a server and programs", () => {
    assert.ok(fast.length >= 4, `${fast.length} fast cases`);
  });
  for (const c of fast) {
    test(c.name, async () => {
      const row = (await runCase(c, { kernel: "stock", home: sharedHome() })) as Row;
      assert.ok(row.works, `${c.name}: ${row.cause}`);
      assert.ok(row.boots);
      assert.ok(row.readyMs !== null && row.readyMs > 0);
      assert.ok(row.sizeMB !== null && row.sizeMB > 1);
      assert.match(row.version, /^[0-9][^ ]*$/, "the version comes from the image's SBOM facts");
    });
  }
});
