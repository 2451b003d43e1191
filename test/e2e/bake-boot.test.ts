// Baked images boot in real QEMU (the accelerator kiln picks: software emulation where KVM does not work).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runKiln } from "../helpers.js";
import { bakeImage, compile, helloProgram, WORK } from "./fixtures.js";

const OUT = join(WORK, "bake-boot");

describe("baked images boot", () => {
  let hello: string;
  before(async () => {
    hello = await helloProgram();
  });
  const names: string[] = [];
  after(async () => {
    for (const n of names) await runKiln(["rm", "-f", n]);
  });

  test("hello prints its line and `kiln: exit 0`; a program that exits 7 gives `kiln: exit 7`", async () => {
    const img = await bakeImage(join(OUT, "hello"), [hello]);
    const r = await runKiln(["launch", "qemu", img]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Hello from kiln!\r?$/m);
    assert.match(r.stdout, /^kiln: exit 0\r?$/m);
    const seven = await compile(
      "exit7",
      '#include <stdio.h>\nint main(void){ puts("exiting with 7"); return 7; }\n',
    );
    const img7 = await bakeImage(join(OUT, "seven"), [seven]);
    const r7 = await runKiln(["launch", "qemu", img7]);
    assert.equal(r7.code, 7, r7.stderr);
    assert.match(r7.stdout, /^kiln: exit 7\r?$/m);
  });

  test("a two-program image runs both: the background one first, then main", async () => {
    const main = await compile(
      "rcmain",
      '#include <stdio.h>\n#include <unistd.h>\nint main(void){ for (int i = 0; i < 50 && access("/tmp/bg-ran", F_OK); i++) usleep(100000); printf("main sees bg: %s\\n", access("/tmp/bg-ran", F_OK) ? "no" : "yes"); return 0; }\n',
    );
    const bg = await compile(
      // The line first, then the file main waits for: main ends the VM as soon as it sees the file.
      "rcbg",
      '#include <stdio.h>\n#include <unistd.h>\nint main(void){ puts("bg: running"); fflush(stdout); FILE *f = fopen("/tmp/bg-ran", "w"); if (f) fclose(f); for (;;) pause(); }\n',
    );
    const img = await bakeImage(join(OUT, "rc"), [main, bg]);
    const r = await runKiln(["launch", "qemu", img]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^bg: running\r?$/m);
    assert.match(r.stdout, /^main sees bg: yes\r?$/m);
    assert.match(r.stdout, /^kiln: exit 0\r?$/m);
  });

  test("a kernel-plane image configures its interface and stays up until stopped", async () => {
    const img = await bakeImage(join(OUT, "plane"), []);
    const name = `plane-${process.pid}`;
    names.push(name);
    const r = await runKiln(["launch", "qemu", "-d", "--net", "user", "--name", name, img]);
    assert.equal(r.code, 0, r.stderr);
    let logs = "";
    for (let i = 0; i < 300 && !/kiln: ready/.test(logs); i++) {
      await new Promise((res) => setTimeout(res, 200));
      logs = (await runKiln(["logs", name])).stdout;
    }
    assert.match(logs, /kiln: net eth0 10\.0\.2\.15\/24/);
    assert.match(logs, /kiln: ready \(no program\)/);
    await new Promise((res) => setTimeout(res, 1000));
    const ps = JSON.parse((await runKiln(["ps", "--json"])).stdout) as { name: string; state: string }[];
    assert.equal(ps.find((m) => m.name === name)?.state, "running", "still up after it is ready");
    assert.equal((await runKiln(["stop", name])).code, 0);
    const after = JSON.parse((await runKiln(["ps", "--json"])).stdout) as { name: string; state: string }[];
    assert.equal(after.find((m) => m.name === name)?.state, "exited");
  });
});
