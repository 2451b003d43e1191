import { isOurProcess } from "../state.js";

/** Poll until `alive()` turns false or the time is up; true when it went away. */
export async function waitGone(alive: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!(await alive())) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM the machine's process (if it is still ours), then SIGKILL after `graceMs`. */
export async function terminate(pid: number | undefined, dir: string, graceMs: number): Promise<void> {
  const alive = () => isOurProcess(pid, dir);
  if (!pid || !(await alive())) return;
  process.kill(pid, "SIGTERM");
  if (await waitGone(alive, graceMs)) return;
  if (await alive()) process.kill(pid, "SIGKILL");
  await waitGone(alive, 2000);
}
