import assert from "node:assert/strict";
import { test } from "node:test";
import { debianLicenseField, debianNameToSpdx, licenseRefId } from "./debianLicense.js";
import { isLicenseExpression } from "./licenseExpression.js";

test("Debian short names map to the SPDX ids they mean", () => {
  const cases: Record<string, string> = {
    "GPL-2+": "GPL-2.0-or-later",
    "GPL-2": "GPL-2.0-only",
    "GPL-2.0+": "GPL-2.0-or-later",
    "GPLv3+": "GPL-3.0-or-later",
    "GPL-3": "GPL-3.0-only",
    "LGPL-2.1+": "LGPL-2.1-or-later",
    "LGPL-2.1": "LGPL-2.1-only",
    "LGPL-2": "LGPL-2.0-only",
    "LGPLv2.1+": "LGPL-2.1-or-later",
    "AGPL-3+": "AGPL-3.0-or-later",
    "GFDL-NIV-1.3": "GFDL-1.3-no-invariants-only",
    "BSD-3-clause": "BSD-3-Clause",
    "BSD-2": "BSD-2-Clause",
    "BSD-4-clause-UC": "BSD-4-Clause-UC",
    Expat: "MIT",
    MIT: "MIT",
    "Apache-2.0": "Apache-2.0",
    "public-domain": "LicenseRef-public-domain",
    Zlib: "Zlib",
    ZLIB: "Zlib",
    zlib: "Zlib",
    ISC: "ISC",
    Artistic: "Artistic-1.0-Perl",
    "CC0-1.0": "CC0-1.0",
    "GPL-2+ with Autoconf exception": "GPL-2.0-or-later WITH Autoconf-exception-generic",
    "GPL-3+-WITH-BISON-EXCEPTION": "GPL-3.0-or-later WITH Bison-exception-2.2",
  };
  for (const [name, spdx] of Object.entries(cases)) {
    const r = debianNameToSpdx(name);
    assert.equal(r.spdx, spdx, name);
    assert.ok(r.known, name);
    assert.ok(isLicenseExpression(r.spdx), r.spdx);
  }
});

test("unknown names become LicenseRef-<sanitized>, never a guess", () => {
  // spdx-correct alone would call this GPL-2.0-only.
  assert.deepEqual(debianNameToSpdx("GPL-2+-or-X11"), { spdx: "LicenseRef-GPL-2-plus-or-X11", known: false });
  assert.deepEqual(debianNameToSpdx("CRYPTOGAMS"), { spdx: "LicenseRef-CRYPTOGAMS", known: false });
  assert.deepEqual(debianNameToSpdx("GPL"), { spdx: "LicenseRef-GPL", known: false });
  assert.deepEqual(debianNameToSpdx("MIT/X11 (BSD like)"), {
    spdx: "LicenseRef-MIT-X11-BSD-like",
    known: false,
  });
  assert.equal(licenseRefId("a b_c+"), "LicenseRef-a-b-c-plus");
  assert.ok(isLicenseExpression(licenseRefId("¿¡ weird !?")));
});

test("License: lines with and/or/commas keep DEP-5 precedence", () => {
  assert.equal(debianLicenseField("GPL-1+ or Artistic").expression, "GPL-1.0-or-later OR Artistic-1.0-Perl");
  assert.equal(debianLicenseField("BSD-3-clause or GPL-2").expression, "BSD-3-Clause OR GPL-2.0-only");
  assert.equal(
    debianLicenseField("GPL-3+ and BSD-4-clause-UC").expression,
    "GPL-3.0-or-later AND BSD-4-Clause-UC",
  );
  assert.equal(debianLicenseField("MIT or GPL-2+ and ISC").expression, "MIT OR GPL-2.0-or-later AND ISC");
  assert.equal(debianLicenseField("MIT or GPL-2+, and ISC").expression, "(MIT OR GPL-2.0-or-later) AND ISC");
  const r = debianLicenseField("LGPL-3+ or GPL-2+ or Frobnicate");
  assert.equal(r.expression, "LGPL-3.0-or-later OR GPL-2.0-or-later OR LicenseRef-Frobnicate");
  assert.deepEqual(
    r.names.map((n) => n.known),
    [true, true, false],
  );
});
