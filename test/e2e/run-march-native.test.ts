// Programs built with -march=native for this host run in a kiln VM: QEMU gets `-cpu max` under software
// emulation (and `-cpu host` under KVM). QEMU 7.2's TCG emulates AVX2 but not AVX-512, so on an AVX-512 host
// a -march=native program that uses EVEX instructions still dies of SIGILL under emulation, and kiln says
// why; -march=native -mno-avx512f (the host's features that TCG has) runs. Both are run under TCG here.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { run, runKiln } from "../helpers.js";
import { CC, WORK } from "./fixtures.js";

const DIR = join(WORK, "march-native");
const SOURCE = `#include <stdio.h>
#include <stdlib.h>
static float a[4096], b[4096];
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4096;
  for (int i = 0; i < n; i++) { a[i] = (float)i; b[i] = (float)(n - i); }
  float s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  printf("native sum %.0f\\n", s);
  return 0;
}
`;
const hostFlags = new Set(
  /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.split(/\s+/),
);

async function build(name: string, flags: string[]): Promise<{ exe: string; asm: string }> {
  mkdirSync(DIR, { recursive: true });
  const src = join(DIR, "native.c");
  writeFileSync(src, SOURCE);
  const exe = join(DIR, name);
  const r = await run(CC(), ["-O3", ...flags, src, "-o", exe]);
  assert.equal(r.code, 0, r.stderr);
  const d = await run("objdump", ["-d", exe]);
  return { exe, asm: d.stdout };
}

const TCG = { env: { KILN_ACCEL: "tcg" }, timeoutMs: 180_000 };

describe("-march=native in a VM", () => {
  test("the host's native features that TCG emulates (AVX2 here) run in the VM", async (t) => {
    if (!hostFlags.has("avx2")) return t.skip("the host has no AVX2");
    const flags = ["-march=native", ...(hostFlags.has("avx512f") ? ["-mno-avx512f"] : [])];
    const { exe, asm } = await build("native-tcg", flags);
    // The loop is vectorised with 256-bit AVX registers: QEMU's default CPU model (qemu64) has no AVX.
    assert.match(asm, /%ymm\d+/);
    assert.equal((await run(exe, [])).stdout, "native sum 11453217792\n");
    const r = await runKiln(["run", exe, "-q"], TCG);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^native sum 11453217792\r?$/m);
  });

  test("on an AVX-512 host, plain -march=native dies of SIGILL under emulation, with the reason", async (t) => {
    if (!hostFlags.has("avx512f")) return t.skip("the host has no AVX-512: -march=native runs under TCG");
    const { exe, asm } = await build("native-avx512", ["-march=native"]);
    // EVEX-encoded instructions (prefix byte 0x62 in 64-bit mode: AVX-512, also on ymm) are what TCG lacks.
    if (!/^\s+[0-9a-f]+:\t62 /m.test(asm)) return t.skip("gcc emitted no AVX-512 instruction for this loop");
    const r = await runKiln(["run", exe, "-q"], TCG);
    assert.equal(r.code, 132, r.stdout + r.stderr);
    assert.match(r.stderr, /killed by SIGILL/);
    assert.match(r.stderr, /"max": AVX2, but no AVX-512/);
    assert.match(r.stderr, /-march=native -mno-avx512f/);
  });
});
