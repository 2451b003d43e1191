/**
 * A minimal QMP client (QEMU's JSON control protocol on a unix socket): connect, read the greeting,
 * negotiate capabilities, run one command. Enough for `kiln stop`; events are ignored.
 */
import { connect } from "node:net";

export interface QmpReply {
  return?: unknown;
  error?: { class: string; desc: string };
}

export function qmpCommand(
  socket: string,
  execute: string,
  args?: Record<string, unknown>,
  timeoutMs = 3000,
): Promise<QmpReply> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = "";
    let phase: "greeting" | "caps" | "cmd" = "greeting";
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`QMP ${execute}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      conn.destroy();
      fn();
    };
    conn.on("error", (e) => done(() => reject(e)));
    // `quit` may close the connection before its reply arrives: that is success too.
    conn.on("close", () => {
      if (phase === "cmd" && execute === "quit") done(() => resolve({ return: {} }));
      else done(() => reject(new Error(`QMP ${execute}: connection closed`)));
    });
    conn.setEncoding("utf8").on("data", (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ("event" in msg) continue;
        if (phase === "greeting" && "QMP" in msg) {
          phase = "caps";
          conn.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
        } else if (phase === "caps" && ("return" in msg || "error" in msg)) {
          if ("error" in msg) return done(() => resolve(msg as QmpReply));
          phase = "cmd";
          conn.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
        } else if (phase === "cmd" && ("return" in msg || "error" in msg)) {
          return done(() => resolve(msg as QmpReply));
        }
      }
    });
  });
}
