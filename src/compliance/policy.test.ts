import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Part } from "./parts.js";
import { checkPolicy, enforcePolicy, loadPolicy, parsePolicy } from "./policy.js";

const part = (id: string, license: string, extra: Partial<Part> = {}): Part => ({
  id,
  kind: "program",
  name: id.replace(/^.*\//, ""),
  path: id.replace(/^program:/, ""),
  license,
  ...extra,
});

const parts: Part[] = [
  part("program:/bin/gplv3", "GPL-3.0-or-later"),
  part("program:/bin/gplv3only", "GPL-3.0-only AND MIT"),
  part("program:/bin/dual", "MIT OR GPL-3.0-only"),
  part("program:/bin/gplv2", "GPL-2.0-only"),
  part("program:/bin/mit", "MIT"),
  part("program:/bin/unknown", "NOASSERTION"),
  part("program:/bin/exc", "GPL-3.0-only WITH GCC-exception-3.1"),
  { id: "config:/kiln/image.json", kind: "config", name: "image.json", license: "NONE" },
];

test("deny GPL-3.0-or-later: names every part that cannot avoid it, and only those", () => {
  const v = checkPolicy(parts, parsePolicy({ deny: ["GPL-3.0-or-later"] }));
  assert.deepEqual(
    v.map((x) => [x.part, x.rule, x.offending.join(","), x.entry]),
    [
      ["program:/bin/gplv3", "deny", "GPL-3.0-or-later", "GPL-3.0-or-later"],
      ["program:/bin/gplv3only", "deny", "GPL-3.0-only", "GPL-3.0-or-later"],
      ["program:/bin/exc", "deny", "GPL-3.0-only WITH GCC-exception-3.1", "GPL-3.0-or-later"],
    ],
  );
});

test("allow-lists: satisfiable choices pass, unknown licences fail unless NOASSERTION is listed", () => {
  const v = checkPolicy(parts, parsePolicy({ allow: ["MIT", "GPL-2.0-only"] }));
  assert.deepEqual(
    v.map((x) => [x.part, x.offending.join(",")]),
    [
      ["program:/bin/gplv3", "GPL-3.0-or-later"],
      ["program:/bin/gplv3only", "GPL-3.0-only"],
      ["program:/bin/unknown", "NOASSERTION"],
      ["program:/bin/exc", "GPL-3.0-only WITH GCC-exception-3.1"],
    ],
  );
  const withUnknown = checkPolicy(
    parts,
    parsePolicy({ allow: ["MIT", "GPL-2.0-only", "GPL-3.0-only", "NOASSERTION"] }),
  );
  // GPL-3.0-or-later is satisfied by GPL-3.0-only; the exception passes on its base licence.
  assert.deepEqual(withUnknown, []);
});

test("enforcePolicy throws KILN_ELICENSE_DENIED naming the part and licence, or returns what to record", () => {
  const policy = parsePolicy({ deny: ["GPL-3.0-or-later"] }, "kiln.toml");
  assert.throws(
    () => enforcePolicy(parts, policy),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_ELICENSE_DENIED");
      assert.match(e.message, /gplv3 \(\/bin\/gplv3\) is licensed "GPL-3.0-or-later"/);
      assert.match(e.message, /refuses 3 parts/);
      return true;
    },
  );
  const record = enforcePolicy(parts, policy, { allowViolations: true });
  assert.equal(record?.overridden, true);
  assert.deepEqual(record?.deny, ["GPL-3.0-or-later"]);
  assert.equal(record?.violations.length, 3);
  assert.equal(enforcePolicy([parts[4]!], policy), undefined);
});

test("policies are read from kiln.toml [policy]; bad entries are usage errors", async () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-policy-"));
  try {
    assert.equal(await loadPolicy({ dir }), undefined);
    writeFileSync(
      join(dir, "kiln.toml"),
      '[package]\nname = "x"\n\n[policy]\ndeny = ["GPL-3.0-or-later", "AGPL-3.0-only"]\n',
    );
    assert.deepEqual((await loadPolicy({ dir }))?.deny, ["GPL-3.0-or-later", "AGPL-3.0-only"]);
    writeFileSync(join(dir, "bad.toml"), '[policy]\nallow = ["MIT OR ISC"]\n');
    await assert.rejects(loadPolicy({ file: join(dir, "bad.toml") }), { code: "KILN_EPOLICY_INVALID" });
    writeFileSync(join(dir, "bad2.toml"), '[policy]\ndeny = ["GPL-3+"]\n');
    await assert.rejects(loadPolicy({ file: join(dir, "bad2.toml") }), { code: "KILN_ELICENSE_INVALID" });
    writeFileSync(join(dir, "bad3.toml"), "[policy]\nforbid = []\n");
    await assert.rejects(loadPolicy({ file: join(dir, "bad3.toml") }), { code: "KILN_EPOLICY_INVALID" });
    await assert.rejects(loadPolicy({ file: join(dir, "missing.toml") }), { code: "KILN_EPOLICY_NOT_FOUND" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
