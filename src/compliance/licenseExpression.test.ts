import assert from "node:assert/strict";
import { test } from "node:test";
import { KilnError } from "../core/errors.js";
import {
  andLicenses,
  isLicenseExpression,
  licenseLeaves,
  parseLicenseExpression,
} from "./licenseExpression.js";

function failure(expr: string): KilnError {
  try {
    parseLicenseExpression(expr, "recipe demo");
  } catch (e) {
    assert.ok(e instanceof KilnError);
    return e;
  }
  assert.fail(`${expr} parsed`);
}

test("valid expressions parse and render in a normal form", () => {
  assert.equal(parseLicenseExpression("MIT").expression, "MIT");
  assert.equal(
    parseLicenseExpression("  mit OR Apache-2.0 ".replace("mit", "MIT")).expression,
    "MIT OR Apache-2.0",
  );
  assert.equal(parseLicenseExpression("(MIT OR ISC) AND Zlib").expression, "(MIT OR ISC) AND Zlib");
  assert.equal(parseLicenseExpression("MIT OR (ISC AND Zlib)").expression, "MIT OR ISC AND Zlib");
  assert.equal(
    parseLicenseExpression("GPL-2.0-only WITH Linux-syscall-note").expression,
    "GPL-2.0-only WITH Linux-syscall-note",
  );
  assert.equal(parseLicenseExpression("LicenseRef-kiln-x").expression, "LicenseRef-kiln-x");
  assert.equal(parseLicenseExpression("NOASSERTION").expression, "NOASSERTION");
  assert.ok(isLicenseExpression("Apache-2.0 AND MIT"));
  assert.ok(!isLicenseExpression("Apache-2.0 AND"));
});

test("an invalid expression names the column and the token, and suggests a fix", () => {
  const e = failure("MIT AND Apache2");
  assert.equal(e.code, "KILN_ELICENSE_INVALID");
  assert.equal(e.kind, "usage");
  assert.match(e.message, /"MIT AND Apache2" in recipe demo: found "Apache2" at column 9/);
  assert.match(e.hint, /Did you mean "Apache-2.0"\?/);
  assert.equal(e.details?.column, 9);

  const open = failure("MIT AND (ISC OR Zlib");
  assert.match(open.message, /found the end of the expression at column 21, expected "\)"/);

  const dangling = failure("MIT OR");
  assert.match(dangling.message, /column 7, expected a licence identifier/);

  const extra = failure("MIT Zlib");
  assert.match(extra.message, /found "Zlib" at column 5, expected AND, OR or the end/);

  const exc = failure("GPL-2.0-only WITH No-such-exception");
  assert.match(exc.message, /"No-such-exception" at column 19, expected an SPDX exception/);

  const empty = failure("");
  assert.match(empty.message, /end of the expression at column 1/);
});

test("leaves and AND-joins", () => {
  const { ast } = parseLicenseExpression(
    "(MIT OR GPL-2.0-or-later) AND MIT AND GPL-2.0-only WITH Linux-syscall-note",
  );
  assert.deepEqual(licenseLeaves(ast), ["MIT", "GPL-2.0-or-later", "GPL-2.0-only WITH Linux-syscall-note"]);
  assert.equal(
    andLicenses(["MIT", "MIT AND ISC", "NOASSERTION", "ISC OR Zlib"]),
    "MIT AND ISC AND (ISC OR Zlib)",
  );
  assert.equal(andLicenses(["NOASSERTION"]), "NOASSERTION");
  assert.equal(andLicenses(["MIT OR ISC"]), "MIT OR ISC");
});
