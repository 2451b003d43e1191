import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNameRange, withDependency } from "./addDependency.js";
import { andRanges } from "./repository.js";

test("withDependency: a new table, an added key, a replaced key; comments stay", () => {
  assert.equal(withDependency("", "dependencies", "kz", "^1"), '[dependencies]\nkz = "^1"\n');
  const text =
    '# my project\n[image]\nargs = []\n\n[dependencies]\n# pinned for a reason\nold = "1.x"\n\n[build-dependencies]\ntool = "*"\n';
  assert.equal(
    withDependency(text, "dependencies", "kz", "^1"),
    '# my project\n[image]\nargs = []\n\n[dependencies]\n# pinned for a reason\nold = "1.x"\nkz = "^1"\n\n[build-dependencies]\ntool = "*"\n',
  );
  assert.equal(withDependency(text, "dependencies", "old", "^2"), text.replace('old = "1.x"', 'old = "^2"'));
  assert.equal(
    withDependency(text, "build-dependencies", "tool", "^3"),
    text.replace('tool = "*"', 'tool = "^3"'),
  );
  assert.equal(
    withDependency("[image]\nargs = []", "dependencies", "a.b", "1"),
    '[image]\nargs = []\n\n[dependencies]\n"a.b" = "1"\n',
  );
});

test("parseNameRange: NAME, NAME@RANGE; bad ones refused", () => {
  assert.deepEqual(parseNameRange("kz"), { name: "kz", range: "*" });
  assert.deepEqual(parseNameRange("kz@>=1.2 <2"), { name: "kz", range: ">=1.2 <2" });
  assert.throws(() => parseNameRange("KZ@1"), { code: "KILN_EPKG_SPEC" });
  assert.throws(() => parseNameRange("kz@not a range"), { code: "KILN_EPKG_SPEC" });
});

test("andRanges: the intersection, ORs distributed", async () => {
  const semver = (await import("semver")).default;
  const cases: [string, string][] = [
    ["^1", ">=1.2"],
    ["1.x || 3.x", "<3.5 || 1.4.0"],
    ["*", "~2.1"],
  ];
  for (const [a, b] of cases) {
    const both = andRanges(a, b);
    for (const v of ["1.0.0", "1.3.0", "1.4.0", "2.1.3", "3.0.0", "3.6.0"]) {
      assert.equal(
        semver.satisfies(v, both),
        semver.satisfies(v, a) && semver.satisfies(v, b),
        `${v} in ${a} and ${b} = ${both}`,
      );
    }
  }
});
