/**
 * Host ports a machine will forward must be free before the hypervisor starts: QEMU reports a taken port
 * only as "Could not set up host forwarding rule", after it has started. Checked by listening on them.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { KilnError, q } from "../core/errors.js";

export interface PortUse {
  proto: "tcp" | "udp";
  port: number;
  addr?: string;
  what: string;
}

function tryTcp(port: number, addr?: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", (e: NodeJS.ErrnoException) => resolve(e));
    // Without an address, a listener takes every IPv4 address; check the same.
    srv.listen({ port, host: addr ?? "0.0.0.0", exclusive: true }, () => srv.close(() => resolve(undefined)));
  });
}

function tryUdp(port: number, addr?: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket(addr?.includes(":") ? "udp6" : "udp4");
    sock.once("error", (e: NodeJS.ErrnoException) => {
      sock.close();
      resolve(e);
    });
    sock.bind({ port, address: addr ?? "0.0.0.0", exclusive: true }, () =>
      sock.close(() => resolve(undefined)),
    );
  });
}

export async function checkPortsFree(uses: readonly PortUse[]): Promise<void> {
  for (const u of uses) {
    const err = u.proto === "tcp" ? await tryTcp(u.port, u.addr) : await tryUdp(u.port, u.addr);
    if (!err) continue;
    const where = `${u.addr ? `${u.addr}:` : ""}${u.port}/${u.proto}`;
    if (err.code === "EADDRINUSE") {
      throw new KilnError(
        "KILN_EPORT_IN_USE",
        `Cannot use host port ${q(where)} for ${u.what}: another program is listening on it`,
        "Choose another host port (-p HOST:GUEST), or stop the program using it (`ss -ltnp` shows it).",
        { details: { port: u.port, proto: u.proto } },
      );
    }
    if (err.code === "EACCES") {
      throw new KilnError(
        "KILN_EPORT_DENIED",
        `Cannot use host port ${q(where)} for ${u.what}: permission denied`,
        "Ports below 1024 need privileges; use a port above 1023.",
      );
    }
    throw new KilnError(
      "KILN_EPORT_UNAVAILABLE",
      `Cannot use host port ${q(where)} for ${u.what}: ${err.code ?? err.message}`,
      "Check the host address (it must be one of this machine's addresses).",
    );
  }
}
