import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isKilnError } from "./errors.js";
import { exec } from "./exec.js";

const execModule = fileURLToPath(new URL("./exec.ts", import.meta.url));

/** The state letter of a process (Z: a zombie, already dead), or undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
    const s = stateOf(pid);
    if (s === undefined || s === "Z") return true;
  }
  return false;
}

test("a tool run by exec dies when kiln is killed with SIGKILL", async () => {
  // A kiln stand-in: exec() a long tool and wait.
  const script = `import { exec } from ${JSON.stringify(execModule)};
    exec("sleep", ["300"]).catch(() => {});
    setInterval(() => {}, 1 << 30);`;
  const kiln = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: "ignore",
  });
  let pid = 0;
  for (
    const end = Date.now() + 20_000;
    !pid && Date.now() < end;
    await new Promise((r) => setTimeout(r, 50))
  ) {
    const r = spawnSync("pgrep", ["-P", String(kiln.pid), "-x", "sleep"], { encoding: "utf8" });
    pid = Number(r.stdout.trim().split("\n")[0] ?? 0);
  }
  assert.ok(pid > 0, "the stand-in started sleep");
  kiln.kill("SIGKILL");
  const died = await gone(pid, 5000);
  if (!died) process.kill(pid, "SIGKILL");
  assert.ok(died, `sleep (pid ${pid}) outlived the kiln that ran it`);
});

test("a missing tool is still KILN_ETOOL_MISSING, and tools keep their exit status and output", async () => {
  await assert.rejects(
    exec("kiln-no-such-tool", []),
    (e) => isKilnError(e) && e.code === "KILN_ETOOL_MISSING",
  );
  const r = await exec("sh", ["-c", "echo out; echo err >&2; exit 3"], { check: false });
  assert.deepEqual([r.code, r.stdout, r.stderr], [3, "out\n", "err\n"]);
  const cwd = await exec("./x", [], { cwd: "/bin", check: false }).catch((e) => e);
  assert.ok(isKilnError(cwd) && cwd.code === "KILN_ETOOL_MISSING", "a relative path is looked up from cwd");
  assert.equal((await exec("./true", [], { cwd: "/bin" })).code, 0);
});
