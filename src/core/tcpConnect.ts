/**
 * One TCP connection attempt, closed at once: what became of it within `ms`. For callers that must tell a
 * slow or refusing host from a working one before (or after) a client library hides the difference.
 */
import { connect } from "node:net";

export type TcpOutcome =
  | { kind: "connected" }
  | { kind: "timeout" }
  | { kind: "error"; code: string; message: string };

export function tcpConnect(host: string, port: number, ms: number): Promise<TcpOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const end = (how: TcpOutcome) => {
      clearTimeout(timer);
      s.destroy();
      resolve(how);
    };
    const timer = setTimeout(() => end({ kind: "timeout" }), ms);
    s.once("connect", () => end({ kind: "connected" }));
    s.once("error", (e: NodeJS.ErrnoException) =>
      end({ kind: "error", code: e.code ?? "", message: e.message }),
    );
  });
}
