import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { KilnError } from "../core/errors.js";
import type { MachineStatus } from "./machine.js";
import { checkPortsFree } from "./ports.js";
import {
  claimMachine,
  FILES,
  generateName,
  isOurProcess,
  listMachines,
  liveStatus,
  writeStatus,
} from "./state.js";

const home = mkdtempSync(join(tmpdir(), "kiln-state-"));
const env = { KILN_HOME: home };
after(() => rmSync(home, { recursive: true, force: true }));

/** A real long-running process whose command line names `marker`. */
function sleeper(marker: string) {
  return spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)", marker], { stdio: "ignore" });
}

function status(name: string, dir: string, pid: number | undefined): MachineStatus {
  return {
    name,
    backend: "qemu",
    state: "running",
    image: "/img",
    logFile: join(dir, FILES.console),
    ...(pid ? { pid } : {}),
  };
}

describe("machine state", () => {
  it("believes 'running' only while the pid is alive and names the machine directory", async () => {
    const dir = await claimMachine("m1", env);
    const ours = sleeper(join(dir, FILES.pid));
    // Machine "m10" must not pass for "m1": the directory is matched whole.
    const other = sleeper(`${dir}0/${FILES.pid}`);
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await isOurProcess(ours.pid, dir), true);
      assert.equal(await isOurProcess(other.pid, dir), false);
      const st = status("m1", dir, ours.pid);
      await writeStatus(dir, st);
      assert.equal((await liveStatus(dir, st)).state, "running");
      // A second launch with the same name is refused while it runs.
      await assert.rejects(claimMachine("m1", env), (e: KilnError) => e.code === "KILN_EMACHINE_EXISTS");
      ours.kill("SIGKILL");
      await new Promise((r) => ours.once("exit", r));
      const dead = await liveStatus(dir, st);
      assert.equal(dead.state, "exited");
      assert.equal(dead.reason, "crashed");
      assert.equal(dead.exitStatus, undefined);
      writeFileSync(join(dir, FILES.console), "booting\r\nkiln: exit 4\r\n");
      assert.deepEqual(
        [(await liveStatus(dir, st)).reason, (await liveStatus(dir, st)).exitStatus],
        ["exited", 4],
      );
      writeFileSync(join(dir, FILES.stopRequested), "now\n");
      assert.equal((await liveStatus(dir, st)).reason, "stopped");
      const listed = await listMachines(env);
      assert.deepEqual(
        listed.map((m) => [m.name, m.state]),
        [["m1", "exited"]],
      );
      // An exited machine's name can be taken again; its old state goes.
      const again = await claimMachine("m1", env);
      assert.equal(again, dir);
      assert.deepEqual(await listMachines(env), []);
    } finally {
      ours.kill("SIGKILL");
      other.kill("SIGKILL");
    }
  });

  it("makes names from the image name", () => {
    assert.match(generateName("my web/app"), /^my-web-app-[0-9a-f]{6}$/);
    assert.match(generateName("---"), /^machine-[0-9a-f]{6}$/);
  });

  it("finds a host port in use before the hypervisor would", async () => {
    const { createServer } = await import("node:net");
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, "0.0.0.0", r));
    const port = (srv.address() as { port: number }).port;
    try {
      await assert.rejects(
        checkPortsFree([{ proto: "tcp", port, what: "test" }]),
        (e: KilnError) => e.code === "KILN_EPORT_IN_USE" && e.message.includes(`${port}/tcp`),
      );
    } finally {
      srv.close();
    }
    await checkPortsFree([{ proto: "tcp", port, what: "test" }]);
    await checkPortsFree([{ proto: "udp", port, what: "test" }]);
  });
});
