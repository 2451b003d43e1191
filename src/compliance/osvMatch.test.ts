import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoredAdvisory } from "./osv.js";
import { compareVersions, matchAdvisory } from "./osvMatch.js";

const adv = (affected: StoredAdvisory["affected"], extra: Partial<StoredAdvisory> = {}): StoredAdvisory => ({
  id: "TEST-1",
  modified: "2024-01-01T00:00:00Z",
  affected,
  ...extra,
});
const deb = (events: Record<string, string>[], versions?: string[]) =>
  adv([
    {
      package: { ecosystem: "Debian:12", name: "linux" },
      ranges: [{ type: "ECOSYSTEM", events }],
      ...(versions ? { versions } : {}),
    },
  ]);

test("Debian ranges use dpkg ordering: introduced/fixed, epochs and tildes", () => {
  const a = deb([{ introduced: "0" }, { fixed: "6.1.158-1" }]);
  assert.deepEqual(matchAdvisory(a, "6.1.153-1", "Debian:12"), { via: "ECOSYSTEM", fixed: "6.1.158-1" });
  assert.equal(matchAdvisory(a, "6.1.158-1", "Debian:12"), undefined);
  assert.equal(matchAdvisory(a, "6.1.192-2", "Debian:12"), undefined);
  // ~ sorts before the release: a backport ~deb12u1 of the fixed version is still before it.
  assert.ok(matchAdvisory(a, "6.1.158-1~deb12u1", "Debian:12"));
  // Semver would call 6.1.99 < 6.1.158 too, but only dpkg knows 1:0.1 > 6.1.158-1.
  assert.equal(matchAdvisory(a, "1:0.1-1", "Debian:12"), undefined);
  const introduced = deb([{ introduced: "6.1.100-1" }, { fixed: "6.1.158-1" }]);
  assert.equal(matchAdvisory(introduced, "6.1.99-1", "Debian:12"), undefined);
  assert.ok(matchAdvisory(introduced, "6.1.100-1", "Debian:12"));
});

test("last_affected, limit, versions lists and unfixed ranges", () => {
  const last = deb([{ introduced: "0" }, { last_affected: "1.2.3-1" }]);
  assert.deepEqual(matchAdvisory(last, "1.2.3-1", "Debian:12"), {
    via: "ECOSYSTEM",
    lastAffected: "1.2.3-1",
  });
  assert.equal(matchAdvisory(last, "1.2.3-2", "Debian:12"), undefined);
  const unfixed = deb([{ introduced: "0" }]);
  assert.deepEqual(matchAdvisory(unfixed, "99:1", "Debian:12"), { via: "ECOSYSTEM" });
  const listed = adv([
    { package: { ecosystem: "Debian:12", name: "musl" }, versions: ["1.2.3-1", "1.2.4-1"] },
  ]);
  assert.deepEqual(matchAdvisory(listed, "1.2.3-1", "Debian:12"), { via: "versions" });
  assert.equal(matchAdvisory(listed, "1.2.3-2", "Debian:12"), undefined);
  const limited = adv([
    {
      package: { ecosystem: "npm", name: "x" },
      ranges: [{ type: "SEMVER", events: [{ introduced: "1.0.0" }, { limit: "2.0.0" }] }],
    },
  ]);
  assert.ok(matchAdvisory(limited, "1.5.0", "npm"));
  assert.equal(matchAdvisory(limited, "2.1.0", "npm"), undefined);
});

test("two affected stretches, semver ecosystems, withdrawn entries", () => {
  const twice = adv([
    {
      package: { ecosystem: "npm", name: "left-pad" },
      ranges: [
        {
          type: "SEMVER",
          events: [{ introduced: "1.0.0" }, { fixed: "1.2.0" }, { introduced: "2.0.0" }, { fixed: "2.0.5" }],
        },
      ],
    },
  ]);
  assert.deepEqual(matchAdvisory(twice, "1.1.9", "npm"), { via: "SEMVER", fixed: "1.2.0" });
  assert.equal(matchAdvisory(twice, "1.5.0", "npm"), undefined);
  assert.deepEqual(matchAdvisory(twice, "2.0.1", "npm"), { via: "SEMVER", fixed: "2.0.5" });
  assert.equal(matchAdvisory(twice, "2.0.5", "npm"), undefined);
  assert.equal(matchAdvisory(twice, "2.0.0-rc.1", "npm"), undefined);
  const withdrawn = { ...deb([{ introduced: "0" }]), withdrawn: "2024-02-01T00:00:00Z" };
  assert.equal(matchAdvisory(withdrawn, "1.0-1", "Debian:12"), undefined);
  assert.equal(compareVersions("1.0~rc1", "1.0", "debian"), -1);
  assert.equal(compareVersions("1.0.0-rc.1", "1.0.0", "semver"), -1);
  assert.equal(compareVersions("0", "0.0.1", "semver"), -1);
});

test("--deb targets: binary names map to source packages, signed kernels to linux, bad input is refused", async () => {
  const { targetsFromDebs } = await import("./audit.js");
  const t = targetsFromDebs(
    ["libssl3=3.0.17-1~deb12u2", "linux-image-cloud-amd64=6.1.158-1", "zlib=1:1.2.13.dfsg-1"],
    "12",
    {
      libssl3: "openssl",
      "linux-image-cloud-amd64": "linux-signed-amd64",
    },
  );
  assert.deepEqual(
    t.map((x) => [x.name, x.version, x.ecosystems.join(",")]),
    [
      ["openssl", "3.0.17-1~deb12u2", "Debian:12,Debian"],
      ["linux", "6.1.158-1", "Debian:12,Debian"],
      ["zlib", "1:1.2.13.dfsg-1", "Debian:12,Debian"],
    ],
  );
  assert.throws(() => targetsFromDebs(["openssl"], "12"), { code: "KILN_EAUDIT_DEB" });
  assert.throws(() => targetsFromDebs(["openssl=x1.0"], "12"), { code: "KILN_EDEB_VERSION" });
});
