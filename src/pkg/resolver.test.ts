import assert from "node:assert/strict";
import { test } from "node:test";
import semver from "semver";
import { KilnError } from "../core/errors.js";
import { type Candidate, memoryResolver, type Resolution, resolve } from "./resolver.js";

type Graph = Record<string, Record<string, Record<string, string>>>;

function repo(g: Graph) {
  return memoryResolver(
    new Map(
      Object.entries(g).map(([n, vs]) => [
        n,
        Object.entries(vs).map(([version, dependencies]): Candidate => ({ version, dependencies })),
      ]),
    ),
  );
}

const chosen = (r: Resolution) => Object.fromEntries(r.packages.map((p) => [p.name, p.version]));

async function conflict(g: Graph, deps: Record<string, string>): Promise<KilnError> {
  try {
    await resolve({ label: "kiln.toml", dependencies: deps }, repo(g));
  } catch (e) {
    assert.ok(e instanceof KilnError);
    assert.equal(e.code, "KILN_ERESOLVE");
    return e;
  }
  assert.fail("resolved");
}

test("newest versions that fit, with exact dependency edges", async () => {
  const g: Graph = {
    app: { "1.0.0": { lib: "^1" }, "1.2.0": { lib: "^1.2" } },
    lib: { "1.1.0": {}, "1.3.0": {}, "2.0.0": {} },
  };
  const r = await resolve({ label: "kiln.toml", dependencies: { app: "^1" } }, repo(g));
  assert.deepEqual(chosen(r), { app: "1.2.0", lib: "1.3.0" });
  assert.deepEqual(r.packages[0]!.dependencies, { lib: "1.3.0" });
  assert.equal(r.backtracks, 0);
});

test("the person-readable clash: app 1.2.0 needs libfoo ^2, but libbar 0.3.0 needs libfoo ^1", async () => {
  const e = await conflict(
    {
      app: { "1.2.0": { libfoo: "^2", libbar: "^0.3" } },
      libbar: { "0.3.0": { libfoo: "^1" } },
      libfoo: { "1.4.0": {}, "2.1.0": {} },
    },
    { app: "^1.2" },
  );
  assert.match(e.message, /app 1\.2\.0 needs libfoo \^2, but libbar 0\.3\.0 needs libfoo \^1/);
});

test("backtracks to an older version that fits", async () => {
  const r = await resolve(
    { label: "kiln.toml", dependencies: { app: "*", libbar: "*" } },
    repo({
      app: { "2.0.0": { libfoo: "^2" }, "1.0.0": { libfoo: "^1" } },
      libbar: { "0.3.0": { libfoo: "^1" } },
      libfoo: { "1.4.0": {}, "2.1.0": {} },
    }),
  );
  assert.deepEqual(chosen(r), { app: "1.0.0", libbar: "0.3.0", libfoo: "1.4.0" });
});

test("unsatisfiable and unknown ranges at the root name the versions there are", async () => {
  const e = await conflict({ lib: { "1.0.0": {}, "1.5.0": {} } }, { lib: "^3" });
  assert.match(e.message, /kiln\.toml needs lib \^3, but the versions of lib are 1\.0\.0, 1\.5\.0/);
  const u = await conflict({}, { nothere: "^1" });
  assert.match(u.message, /no repository has a package named "nothere"/);
  const deep = await conflict({ app: { "1.0.0": { ghost: "^1" } } }, { app: "*" });
  assert.match(deep.message, /app 1\.0\.0 needs ghost \^1, but no repository has a package named "ghost"/);
});

test("build-dependencies and dependencies on one name must both hold", async () => {
  const g: Graph = { lib: { "1.0.0": {}, "1.5.0": {}, "2.0.0": {} } };
  const r = await resolve({ label: "p", dependencies: { lib: ">=1" }, extra: { lib: "<2" } }, repo(g));
  assert.deepEqual(chosen(r), { lib: "1.5.0" });
  await assert.rejects(
    resolve({ label: "p", dependencies: { lib: "^2" }, extra: { lib: "^1" } }, repo(g)),
    /p needs lib \^2, but p needs lib \^1/,
  );
});

test("preferred (locked) versions win when they fit, and give way when they do not", async () => {
  const g: Graph = { lib: { "1.0.0": {}, "1.5.0": {}, "2.0.0": {} } };
  const prefer = new Map([["lib", "1.0.0"]]);
  const r = await resolve({ label: "p", dependencies: { lib: "^1" } }, repo(g), { prefer });
  assert.deepEqual(chosen(r), { lib: "1.0.0" });
  const r2 = await resolve({ label: "p", dependencies: { lib: "^2" } }, repo(g), { prefer });
  assert.deepEqual(chosen(r2), { lib: "2.0.0" });
});

test("packages only reachable through versions not chosen are left out", async () => {
  const r = await resolve(
    { label: "p", dependencies: { a: "^1" } },
    repo({ a: { "1.0.0": {}, "0.9.0": { old: "*" } }, old: { "1.0.0": {} } }),
  );
  assert.deepEqual(chosen(r), { a: "1.0.0" });
});

/** Every solution the solver returns meets every range; when brute force finds one, so does the solver. */
test("random graphs: solutions are valid and complete against brute force", async () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const names = ["a", "b", "c", "d", "e"];
  let solvedCount = 0;
  for (let round = 0; round < 1500; round++) {
    const g: Graph = {};
    for (const n of names) {
      g[n] = {};
      const count = 1 + Math.floor(rand() * 3);
      for (let v = 1; v <= count; v++) {
        const deps: Record<string, string> = {};
        for (const m of names) {
          if (m !== n && rand() < 0.3) {
            deps[m] = rand() < 0.5 ? `^${1 + Math.floor(rand() * 3)}` : `>=${1 + Math.floor(rand() * 3)}.0.0`;
          }
        }
        g[n]![`${v}.0.0`] = deps;
      }
    }
    const root = { a: `>=${1 + Math.floor(rand() * 3)}`, b: "*" };
    const brute = bruteForce(g, root);
    let got: Resolution | undefined;
    try {
      got = await resolve({ label: "p", dependencies: root }, repo(g));
    } catch (e) {
      assert.ok(e instanceof KilnError && e.code === "KILN_ERESOLVE", String(e));
    }
    assert.equal(got !== undefined, brute, `round ${round}: solver ${got ? "found" : "missed"} a solution`);
    if (got) {
      solvedCount++;
      const pick = chosen(got);
      for (const [n, r] of Object.entries(root)) assert.ok(semver.satisfies(pick[n]!, r));
      for (const p of got.packages) {
        for (const [d, r] of Object.entries(g[p.name]![p.version]!)) {
          assert.ok(semver.satisfies(pick[d]!, r), `round ${round}: ${p.name} ${p.version} needs ${d} ${r}`);
          assert.equal(p.dependencies[d], pick[d]);
        }
      }
    }
  }
  assert.ok(solvedCount > 150 && solvedCount < 1450, `a useful mix of solvable graphs (${solvedCount})`);
});

function bruteForce(g: Graph, root: Record<string, string>): boolean {
  const names = Object.keys(g);
  const versions = names.map((n) => [undefined, ...Object.keys(g[n]!)]);
  const idx = names.map(() => 0);
  for (;;) {
    const pick = new Map(names.map((n, i) => [n, versions[i]![idx[i]!]]));
    const ok = (n: string, r: string) => {
      const v = pick.get(n);
      return v !== undefined && semver.satisfies(v, r);
    };
    let good = Object.entries(root).every(([n, r]) => ok(n, r));
    for (const [n, v] of pick) {
      if (!good) break;
      if (v === undefined) continue;
      good = Object.entries(g[n]![v]!).every(([d, r]) => ok(d, r));
    }
    if (good) return true;
    let k = 0;
    while (k < names.length && ++idx[k]! === versions[k]!.length) idx[k++] = 0;
    if (k === names.length) return false;
  }
}

test("a clash found deep down undoes the choice that caused it", async () => {
  const r = await resolve(
    { label: "p", dependencies: { a: "*", b: "*" } },
    repo({
      a: { "2.0.0": { x: "^1" }, "1.0.0": {} },
      b: { "1.0.0": { c: "^1" }, "1.1.0": { c: "^1" } },
      x: { "1.0.0": { c: "^2" } },
      c: { "1.0.0": {}, "2.0.0": {} },
    }),
  );
  assert.deepEqual(chosen(r), { a: "1.0.0", b: "1.1.0", c: "1.0.0" });
  assert.ok(r.backtracks > 0);
});
