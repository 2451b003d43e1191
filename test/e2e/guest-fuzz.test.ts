// Fuzzes kiln-init's parsers with libFuzzer (clang -fsanitize=fuzzer,address,undefined; Debian's
// libclang-rt-14-dev) for a bounded time each, from the seed corpus in guest/fuzz/corpus/. Any crash,
// sanitizer report or broken invariant fails the test and leaves the input in the log.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ROOT } from "../helpers.js";

const GUEST = join(ROOT, "guest");
const CLANG = process.env.KILN_TEST_CLANG ?? "clang";
const SECONDS = Number(process.env.KILN_FUZZ_SECONDS ?? 20);
const TARGETS = ["json", "config", "cmdline", "dhcp", "xenstore", "fwcfg"] as const;
// The JSON tokens help the text parsers; DHCP and xenstore replies are binary.
const BINARY: readonly string[] = ["dhcp", "xenstore"];

function runFuzzer(exe: string, args: string[]): Promise<{ code: number; log: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { cwd: GUEST });
    let log = "";
    child.stdout.on("data", (b) => (log += b));
    child.stderr.on("data", (b) => (log += b));
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), log }));
  });
}

describe("kiln-init parsers under libFuzzer", () => {
  const dir = mkdtempSync(join(tmpdir(), "kiln-guest-fuzz-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const t of TARGETS) {
    it(`fuzz_${t} finds nothing in ${SECONDS} s`, { timeout: (SECONDS + 120) * 1000 }, async () => {
      const exe = join(dir, `fuzz_${t}`);
      const build = spawnSync(
        CLANG,
        [
          "-g",
          "-O1",
          "-fsanitize=fuzzer,address,undefined",
          "-fno-sanitize-recover=all",
          "-o",
          exe,
          `fuzz/fuzz_${t}.c`,
          "json.c",
          "config.c",
          "cmdline.c",
          "base64url.c",
          "dhcp.c",
          "xenstore.c",
          "fwcfg.c",
          "test/jsondump.c",
        ],
        { cwd: GUEST, encoding: "utf8" },
      );
      assert.equal(
        build.status,
        0,
        `clang cannot build the fuzzer (libFuzzer comes with Debian's libclang-rt-14-dev):\n${build.stderr}`,
      );
      const seeds = join(GUEST, "fuzz", "corpus", t);
      assert.ok(readdirSync(seeds).length > 0, "a seed corpus exists");
      // New inputs go to a scratch corpus (the first directory), never into the repository's seeds.
      const work = join(dir, `corpus-${t}`);
      mkdirSync(work);
      const r = await runFuzzer(exe, [
        `-max_total_time=${SECONDS}`,
        "-rss_limit_mb=1024",
        "-timeout=10",
        "-print_final_stats=1",
        ...(BINARY.includes(t) ? [] : [`-dict=${join(GUEST, "fuzz", "json.dict")}`]),
        `-artifact_prefix=${dir}/${t}-`,
        work,
        seeds,
      ]);
      const artifacts = readdirSync(dir).filter((n) => n.startsWith(`${t}-`));
      const found = artifacts
        .map((n) => `${n}: ${readFileSync(join(dir, n)).toString("base64")} (base64)`)
        .join("\n");
      assert.equal(r.code, 0, `fuzz_${t} failed:\n${r.log.split("\n").slice(-60).join("\n")}\n${found}`);
      assert.deepEqual(artifacts, []);
      const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(r.log)?.[1] ?? 0);
      assert.ok(runs > 10_000, `fuzz_${t} ran only ${runs} inputs`);
    });
  }
});
