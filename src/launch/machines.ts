/** The verbs on existing machines: list, stop, remove, read the console log. Handlers return data. */
import { createReadStream } from "node:fs";
import { open, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q } from "../core/errors.js";
import { DRIVERS } from "./drivers/index.js";
import type { MachineStatus } from "./machine.js";
import {
  FILES,
  getMachine,
  isOurProcess,
  listMachines,
  liveStatus,
  machineDir,
  removeMachineDir,
} from "./state.js";

export async function psMachines(
  opts: { all?: boolean; env?: NodeJS.ProcessEnv; connect?: string[] } = {},
): Promise<MachineStatus[]> {
  let all = await listMachines(opts.env);
  if (opts.connect && opts.connect.length > 0) all = await withLibvirtHosts(all, opts.connect, opts.env);
  return opts.all === false ? all.filter((m) => m.state === "running") : all;
}

/**
 * Which host runs what: kiln's domains on each libvirt URI (found by kiln's mark, whoever launched them),
 * merged with this kiln's machines. A machine of this kiln that runs there gets its host; a domain another
 * kiln launched is listed from its mark alone. Domains without the mark are not kiln's, and not listed.
 */
async function withLibvirtHosts(
  local: MachineStatus[],
  uris: string[],
  env?: NodeJS.ProcessEnv,
): Promise<MachineStatus[]> {
  const { kilnDomains, readLibvirtMachine } = await import("./libvirtMachine.js");
  const { virsh } = await import("./virsh.js");
  const out = [...local];
  for (const uri of uris) {
    for (const d of await kilnDomains(virsh(uri, env))) {
      const mine = out.findIndex((m) => m.backend === "libvirt" && m.name === d.mark.machine);
      const lm =
        mine >= 0
          ? await readLibvirtMachine(machineDir(d.mark.machine, env)).catch(() => undefined)
          : undefined;
      if (mine >= 0 && lm?.mark.id === d.mark.id) {
        out[mine] = { ...out[mine]!, host: uri };
        continue;
      }
      out.push({
        name: d.mark.machine,
        backend: "libvirt",
        state: "running",
        image: d.mark.image,
        logFile: "",
        host: uri,
      });
    }
  }
  return out;
}

export async function stopMachine(
  name: string,
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<MachineStatus> {
  const { dir, status } = await getMachine(name, opts.env);
  if (status.state !== "running") return status;
  // Recorded first, so whoever watches the machine (an attached kiln, `kiln ps`) reports "stopped".
  await writeFile(join(dir, FILES.stopRequested), `${new Date().toISOString()}\n`);
  await DRIVERS[status.backend].stop(status, dir, { timeoutMs: opts.timeoutMs ?? 5000 });
  const after = await liveStatus(dir, status);
  if (after.state === "running") {
    throw new KilnError(
      "KILN_ESTOP_FAILED",
      `Machine ${q(name)} (pid ${status.pid}) is still running after stop`,
      `Kill it by hand: kill -9 ${status.pid}`,
    );
  }
  return after;
}

export async function removeMachine(
  name: string,
  opts: { force?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<MachineStatus> {
  const { dir, status } = await getMachine(name, opts.env);
  let st = status;
  if (st.state === "running") {
    if (!opts.force) {
      throw new KilnError(
        "KILN_EMACHINE_RUNNING",
        `Cannot remove machine ${q(name)}: it is running`,
        `Stop it first (kiln stop ${name}), or remove it anyway with kiln rm -f ${name}.`,
      );
    }
    st = await stopMachine(name, { timeoutMs: 2000, ...(opts.env ? { env: opts.env } : {}) });
  }
  await removeMachineDir(dir, st);
  return st;
}

/**
 * Write a machine's console log to `out`; with `follow`, keep writing what arrives until the machine ends
 * (or `signal` aborts).
 */
export async function machineLogs(
  name: string,
  out: (chunk: Buffer) => void,
  opts: { follow?: boolean; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<MachineStatus> {
  const { dir, status } = await getMachine(name, opts.env);
  let pos = 0;
  const drain = async () => {
    const size = await stat(status.logFile).then(
      (s) => s.size,
      () => 0,
    );
    if (size <= pos) return;
    const fh = await open(status.logFile, "r");
    try {
      const buf = Buffer.alloc(size - pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      pos += bytesRead;
      if (bytesRead > 0) out(buf.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  };
  if (!opts.follow) {
    await new Promise<void>((res, rej) => {
      const s = createReadStream(status.logFile);
      s.on("data", (b) => out(b as Buffer));
      s.on("end", res);
      s.on("error", (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? res() : rej(e)));
    });
    return status;
  }
  for (;;) {
    await drain();
    if (opts.signal?.aborted) break;
    if (!(await isOurProcess(status.pid, dir))) {
      await drain();
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return (await getMachine(name, opts.env)).status;
}
