import { createWriteStream } from "node:fs";
import { KilnError, q } from "./errors.js";
import { spawnChild } from "./spawnChild.js";

/**
 * Run make (or `opts.cmd`, e.g. a configure script), counting output lines for progress; the whole log
 * goes to `log` (appended to with `opts.append`).
 */
export function runMake(
  args: string[],
  env: NodeJS.ProcessEnv,
  log: string,
  onLine: (n: number) => void,
  opts: { cmd?: string; cwd?: string; append?: boolean } = {},
): Promise<{ code: number; tail: string[]; lines: number }> {
  const cmd = opts.cmd ?? "make";
  return new Promise((resolve, reject) => {
    const out = createWriteStream(log, { flags: opts.append ? "a" : "w" });
    const child = spawnChild(cmd, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const tail: string[] = [];
    let lines = 0;
    let partial = "";
    const feed = (b: Buffer) => {
      out.write(b);
      const parts = (partial + b.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const p of parts) {
        lines++;
        tail.push(p);
        if (tail.length > 30) tail.shift();
      }
      onLine(lines);
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    child.on("error", (e: NodeJS.ErrnoException) => {
      out.end();
      reject(
        e.code === "ENOENT"
          ? new KilnError(
              "KILN_ETOOL_MISSING",
              `Cannot run ${q(cmd)}: not found`,
              cmd === "make"
                ? "Install it: apt-get install make."
                : "Check that the file exists and is executable.",
            )
          : e,
      );
    });
    child.on("close", (code) => {
      if (partial) tail.push(partial);
      out.end(() => resolve({ code: code ?? 128, tail, lines }));
    });
  });
}
