/**
 * The process kiln follows for a libvirt machine (the plan's command): it copies the domain's console to
 * its stdout as the domain writes it, and ends when the domain does. launch.ts treats it as it treats QEMU
 * or xenconsole: attached, its output is the console kiln prints and parses (`kiln: exit N`); detached, it
 * runs in a session of its own writing the machine's console.log, and its life is the machine's for
 * `kiln ps`. The console is a file in kiln's pool on the domain's host: read directly on this host, and
 * through libvirt's storage stream (vol-download from an offset) on another. Told to stop (SIGTERM), it
 * destroys the domain first. Once the domain is gone it deletes the volumes that were the machine's own.
 *
 * Usage: node libvirtFollow.js MACHINE_DIR/libvirt.json
 */
import { open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { findDomain, type LibvirtMachine } from "../libvirtMachine.js";
import { deleteVolume, downloadCommand } from "../libvirtPool.js";
import { virsh } from "../virsh.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What `virsh domstate` says of a domain that still runs ("" when there is no such domain any more). */
function running(state: string): boolean {
  return state.trim() !== "" && !/shut off|crashed/.test(state);
}

async function main(file: string): Promise<number> {
  const m = JSON.parse(await readFile(file, "utf8")) as LibvirtMachine;
  const v = virsh(m.uri);
  let pos = 0;
  const scratch = join(tmpdir(), `kiln-console-${process.pid}`);
  const write = (b: Buffer) =>
    new Promise<void>((res) => {
      if (b.length === 0) return res();
      if (!process.stdout.write(b)) process.stdout.once("drain", () => res());
      else res();
    });
  const readLocal = async (): Promise<Buffer | undefined> => {
    if (!m.consolePath) return undefined;
    const fh = await open(m.consolePath, "r").catch(() => undefined);
    if (!fh) return undefined;
    try {
      const { size } = await fh.stat();
      if (size <= pos) return Buffer.alloc(0);
      const buf = Buffer.alloc(size - pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  };
  let direct = m.local;
  const emit = async (chunk: Buffer | undefined) => {
    if (chunk && chunk.length > 0) {
      pos += chunk.length;
      await write(chunk);
    }
  };
  /**
   * Whether the domain still runs, and what its console has that kiln has not: the state is asked first,
   * so after the last "running" read nothing more can come. Through the stream both go in one virsh.
   */
  const step = async (): Promise<boolean> => {
    if (direct) {
      const state = await v.try(["domstate", m.domain]).catch(() => undefined);
      const chunk = await readLocal().catch(() => undefined);
      // Not readable here after all (kiln without root against qemu:///system): use the stream.
      if (chunk === undefined) direct = false;
      else {
        await emit(chunk);
        return running(state?.code === 0 ? state.stdout : "");
      }
    }
    await rm(scratch, { force: true });
    const r = await v.batch([["domstate", m.domain], downloadCommand(m.consoleVolume, scratch, pos)]);
    await emit(await readFile(scratch).catch(() => undefined));
    return running(r.outputs[0] ?? "");
  };
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const found = await findDomain(v, m.domain).catch(() => undefined);
    if (found?.exists && found.mark?.id === m.mark.id) await v.try(["destroy", m.domain]).catch(() => {});
  };
  for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => void stop());
  const interval = m.local ? 100 : 200;
  try {
    for (;;) {
      const alive = await step().catch(() => true);
      if (!alive) break;
      await sleep(interval);
    }
  } finally {
    await rm(scratch, { force: true });
    await deleteVolume(v, m.consoleVolume).catch(() => {});
    for (const u of m.uploads) if (u.own) await deleteVolume(v, u.volume).catch(() => {});
  }
  return stopping ? 143 : 0;
}

const arg = process.argv[2];
if (!arg) {
  process.stderr.write("usage: libvirtFollow.js MACHINE_DIR/libvirt.json\n");
  process.exit(2);
}
main(arg).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`kiln: following the console of ${dirname(arg)} failed: ${String(e)}\n`);
    process.exit(1);
  },
);
