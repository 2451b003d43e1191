import assert from "node:assert/strict";
import { test } from "node:test";
import { advisorySeverity, atLeast, cvss2Score, cvss3Score } from "./severity.js";

test("CVSS v3.1 base scores match the published ones", () => {
  // Scores as NVD publishes them for these vectors.
  const cases: [string, number][] = [
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8],
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0],
    ["CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8],
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1],
    ["CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9],
    ["CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H", 5.5],
    ["CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0],
  ];
  for (const [v, s] of cases) assert.equal(cvss3Score(v), s, v);
  assert.equal(cvss3Score("CVSS:3.1/AV:N/AC:L"), undefined);
});

test("CVSS v2 base scores match the published ones", () => {
  assert.equal(cvss2Score("AV:N/AC:L/Au:N/C:P/I:P/A:P"), 7.5);
  assert.equal(cvss2Score("AV:N/AC:M/Au:N/C:N/I:P/A:N"), 4.3);
  assert.equal(cvss2Score("AV:N/AC:L/Au:N/C:C/I:C/A:C"), 10);
  assert.equal(cvss2Score("AV:L/AC:L/Au:N/C:P/I:N/A:N"), 2.1);
});

test("advisory severity: per-package first, then the entry's, then database words", () => {
  const base = { id: "X", modified: "2024-01-01T00:00:00Z" };
  assert.deepEqual(
    advisorySeverity({
      ...base,
      severity: [{ type: "CVSS_V3", score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" }],
      affected: [],
    }),
    {
      level: "critical",
      score: 9.8,
      vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
      source: "CVSS_V3",
    },
  );
  assert.equal(
    advisorySeverity({ ...base, database_specific: { severity: "MODERATE" }, affected: [] }).level,
    "medium",
  );
  assert.equal(
    advisorySeverity({ ...base, affected: [{ ecosystem_specific: { urgency: "unimportant" } }] }).level,
    "low",
  );
  const v4 = advisorySeverity({
    ...base,
    severity: [{ type: "CVSS_V4", score: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N" }],
    affected: [],
  });
  assert.equal(v4.level, "unknown");
  assert.match(v4.vector ?? "", /^CVSS:4.0/);
  assert.equal(advisorySeverity({ ...base, affected: [] }).level, "unknown");
  assert.ok(atLeast("high", "medium"));
  assert.ok(!atLeast("low", "medium"));
  assert.ok(!atLeast("unknown", "low"));
});
