// Resolution of a synthetic graph: 2,000 packages, 5 versions each, one range per version (10,000), with a planted
// solution (so it is satisfiable) and random ranges elsewhere (so the newest versions clash and the solver
// must undo choices). Baseline in the same run: testing every range against every version of its target
// once (the work any resolver over these ranges does at least). Target: median < 200 ms.
// Usage: node bench/resolve.mjs [runs]   (needs dist/: npx tsc -p tsconfig.build.json)
import semver from "semver";
import { memoryResolver, resolve } from "../dist/pkg/resolver.js";
import { repeat, row } from "./lib.mjs";

const runs = Number(process.argv[2] ?? 15);
const N = 2000;
const VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"];
const RANGES = ["^1", "^2", ">=1.1.0", "~1.2.0", "*", "<2.1.0", "1.0.0 || ^2"];
let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const name = (i) => `p${String(i).padStart(4, "0")}`;
const planted = Array.from({ length: N }, () => VERSIONS[Math.floor(rand() * VERSIONS.length)]);
const packages = new Map();
let ranges = 0;
for (let i = 0; i < N; i++) {
  const list = [];
  for (const v of VERSIONS) {
    const deps = {};
    // One range per version (10,000 in all), on a package up to 200 further on (the last looks back).
    const t = i === N - 1 ? i - 1 : Math.min(N - 1, i + 1 + Math.floor(rand() * 200));
    let r = RANGES[Math.floor(rand() * RANGES.length)];
    // The planted version of each package only asks for ranges its target's planted version meets.
    if (v === planted[i] && !semver.satisfies(planted[t], r)) r = `^${semver.major(planted[t])}`;
    deps[name(t)] = r;
    ranges++;
    list.push({ version: v, dependencies: deps });
  }
  packages.set(name(i), list);
}
const rootDeps = {};
for (let i = 0; i < N; i += 10) rootDeps[name(i)] = `^${semver.major(planted[i])}`;
console.log(
  `graph: ${N} packages, ${N * VERSIONS.length} versions, ${ranges} ranges; root needs ${Object.keys(rootDeps).length}`,
);

const resolver = memoryResolver(packages);
const base = row(
  "baseline: every range against its target once",
  await repeat(runs, () => {
    const t = performance.now();
    for (const list of packages.values())
      for (const c of list)
        for (const [d, r] of Object.entries(c.dependencies))
          for (const x of packages.get(d)) semver.satisfies(x.version, r);
    return performance.now() - t;
  }),
);
let last;
const m = row(
  "resolve (kiln resolver)",
  await repeat(runs, async () => {
    const t = performance.now();
    last = await resolve({ label: "bench", dependencies: rootDeps }, resolver);
    return performance.now() - t;
  }),
  base,
);
console.log(
  `resolved ${last.packages.length} packages with ${last.backtracks} backtracks; target < 200 ms: ${m < 200 ? "met" : "NOT met"}`,
);
