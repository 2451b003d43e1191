/**
 * What a TCP connection to a libvirt URI's ssh endpoint does. libvirt's ssh transport reports a refused or
 * unreachable ssh host inconsistently: the same refused port gives "Cannot recv data: ssh: ... Connection
 * refused" or just "client socket is closed", depending on whether libvirt read ssh's stderr before the
 * pipe closed. kiln asks the network itself so that the user reads the cause every time.
 */
import { tcpConnect } from "../core/tcpConnect.js";

/** host and port that ssh would connect to for a qemu+ssh:// (or +libssh/+libssh2) URI; undefined otherwise. */
export function sshEndpoint(uri: string): { host: string; port: number } | undefined {
  const m = /^[a-z0-9]+\+(?:ssh|libssh2?):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^:/?]+)(?::(\d+))?(?:[/?]|$)/i.exec(
    uri,
  );
  if (!m?.[1]) return undefined;
  const port = m[2] === undefined ? 22 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ""), port };
}

const WORDS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "the host name could not be resolved",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
};

/**
 * Why a TCP connection to host:port fails, in words a user reads ("connection refused"), or undefined when it
 * is made (then the trouble is ssh's login or libvirtd, not the network).
 */
export async function tcpFailure(host: string, port: number, ms = 3000): Promise<string | undefined> {
  const r = await tcpConnect(host, port, ms);
  if (r.kind === "connected") return undefined;
  if (r.kind === "timeout") return `no answer within ${ms / 1000} s`;
  return WORDS[r.code] ?? r.message;
}
