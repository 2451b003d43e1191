import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { checkDebVersion, compareDebVersions, debVersionProblem, parseDebVersion } from "./debVersion.js";

/** A small seeded generator, so a failing pair can be reproduced. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function generate(r: () => number): string {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const piece = () =>
    pick([
      () => String(Math.floor(r() * 20)),
      () => String(Math.floor(r() * 3)).padStart(1 + Math.floor(r() * 3), "0"),
      () => pick(["a", "b", "rc", "beta", "Z", "dfsg", "git"]),
      () => pick([".", "+", "~", "~~", "-"]),
    ])();
  let upstream = String(Math.floor(r() * 10));
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) upstream += piece();
  let v = upstream;
  if (r() < 0.6) {
    let rev = pick(["1", "0", "2", "1~deb12u1", "1+b1", "1.1", "0~", "3a", "1~bpo12+1"]);
    if (r() < 0.2) rev += pick(["~", "+", ".", "a"]);
    v = `${v}-${rev}`;
  } else v = v.replace(/-/g, "+");
  if (r() < 0.25) v = `${Math.floor(r() * 3)}:${v}`;
  return v;
}

/** Ask dpkg itself about many pairs in one shell (one fork of dpkg per question). */
function dpkgCompare(pairs: [string, string][]): number[] {
  const script =
    'while read -r a b; do if dpkg --compare-versions "$a" lt "$b"; then echo -1; ' +
    'elif dpkg --compare-versions "$a" eq "$b"; then echo 0; else echo 1; fi; done';
  const r = spawnSync("sh", ["-c", script], { input: pairs.map((p) => p.join(" ")).join("\n") + "\n" });
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout.toString().trim().split("\n").map(Number);
}

test("agrees with dpkg --compare-versions on 1,000 generated pairs (epochs, tildes, letters, revisions)", () => {
  const r = rng(20240613);
  const pairs: [string, string][] = [];
  for (let i = 0; i < 1000; i++) {
    const a = generate(r);
    // Half the pairs are near misses: the same version with one piece changed, where ordering is subtle.
    const b =
      r() < 0.5
        ? generate(r)
        : a.replace(/[0-9]$|~|\+|[a-z]$/, (m) => (m === "~" ? "" : m === "+" ? "~" : `${m}~`));
    pairs.push([a, b]);
  }
  const expected = dpkgCompare(pairs);
  assert.equal(expected.length, pairs.length);
  let equal = 0;
  pairs.forEach(([a, b], i) => {
    const got = compareDebVersions(a, b);
    if (got === 0) equal++;
    assert.equal(got, expected[i], `${a} vs ${b}: dpkg says ${expected[i]}, we say ${got}`);
    assert.equal(compareDebVersions(b, a), got === 0 ? 0 : -got, `antisymmetry for ${a} vs ${b}`);
  });
  assert.ok(equal > 0 && equal < pairs.length, "the generated pairs include both equal and unequal ones");
});

test("policy examples: tilde before everything, letters before other characters, epochs win", () => {
  const sorted = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1", "1.0-1", "1:0.1"];
  const pairs: [string, string][] = [];
  for (let i = 0; i < sorted.length; i++)
    for (let j = 0; j < sorted.length; j++) pairs.push([sorted[i]!, sorted[j]!]);
  const expected = dpkgCompare(pairs);
  for (const [i, [a, b]] of pairs.entries())
    assert.equal(compareDebVersions(a, b), expected[i], `${a} vs ${b}`);
  assert.equal(compareDebVersions("1.0~rc1-1", "1.0-1"), -1);
  assert.equal(compareDebVersions("1.0", "1.0-0"), 0);
  assert.equal(compareDebVersions("0001.2", "1.02"), 0);
  assert.equal(compareDebVersions("6.1.158-1", "6.1.158-1"), 0);
  assert.equal(compareDebVersions("6.1.158-1", "6.1.159-1"), -1);
  assert.equal(compareDebVersions("99999999999999999999.1", "99999999999999999998.9"), 1);
  assert.equal(compareDebVersions("1:1.0", "2.0"), 1);
});

test("parses epoch, upstream and revision; flags bad syntax", () => {
  assert.deepEqual(parseDebVersion("1:2.4.47-2~deb12u1"), {
    epoch: 1,
    upstream: "2.4.47",
    revision: "2~deb12u1",
  });
  assert.deepEqual(parseDebVersion("1.2-3-4"), { epoch: 0, upstream: "1.2-3", revision: "4" });
  assert.deepEqual(parseDebVersion("7"), { epoch: 0, upstream: "7", revision: "" });
  assert.equal(debVersionProblem("1.2.3-1"), undefined);
  assert.match(debVersionProblem("a1.0") ?? "", /start with a digit/);
  assert.match(debVersionProblem("x:1.0") ?? "", /epoch/);
  assert.match(debVersionProblem("1.0-") ?? "", /revision/);
  assert.match(debVersionProblem("1.0 2") ?? "", /whitespace/);
  assert.match(debVersionProblem("1.0-a_b") ?? "", /revision/);
  assert.throws(
    () => checkDebVersion("a1.0", "version of musl"),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "KILN_EDEB_VERSION");
      assert.match(e.message, /"a1.0"/);
      return true;
    },
  );
});
