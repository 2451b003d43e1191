import { StringDecoder } from "node:string_decoder";

/**
 * Reads the guest console as it streams by and picks out kiln-init's status lines: `kiln: exit N` (the main
 * program's exit status, printed last, authoritative), `kiln: config error: ...` and `kiln: ready (no
 * program)` (a kernel-plane image is up). Serial consoles end lines with CR LF; both are accepted.
 */
// At the end of a line, not only alone on one: a program whose last output has no newline glues the line to it.
const EXIT = /(?:^|[^\n]*?)kiln: exit (\d{1,3})\r?$/;
const CONFIG_ERROR = /^kiln: config error: (.*?)\r?$/;
const READY = /^kiln: ready \(no (?:main )?program\)\r?$/;

export interface ConsoleFacts {
  exitStatus?: number;
  configError?: string;
  ready: boolean;
  /** Whether any console output arrived. */
  output: boolean;
}

export class ConsoleWatch {
  readonly facts: ConsoleFacts = { ready: false, output: false };
  private partial = "";
  // The serial console hands over bytes as they come: a UTF-8 character can straddle two chunks.
  private readonly decoder = new StringDecoder("utf8");
  private readonly listeners: ((line: string) => void)[] = [];

  /** Call `fn` with every complete console line from now on. */
  onLine(fn: (line: string) => void): void {
    this.listeners.push(fn);
  }

  feed(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === "string" ? chunk : this.decoder.write(chunk));
    if (text.length > 0) this.facts.output = true;
    const lines = text.split("\n");
    this.partial = lines.pop() ?? "";
    // A runaway line without a newline must not grow without bound.
    if (this.partial.length > 65536) this.partial = this.partial.slice(-4096);
    for (const line of lines) this.line(line);
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    this.partial += this.decoder.end();
    if (this.partial) this.line(this.partial);
    this.partial = "";
  }

  private line(line: string): void {
    const m = EXIT.exec(line);
    if (m) {
      const n = Number(m[1]);
      if (n <= 255) this.facts.exitStatus = n;
    } else {
      const c = CONFIG_ERROR.exec(line);
      if (c) this.facts.configError = c[1];
      else if (READY.test(line)) this.facts.ready = true;
    }
    for (const fn of this.listeners) fn(line);
  }
}

/** The facts of a whole console log (a detached machine's, read after it ended). */
export function consoleFacts(text: string): ConsoleFacts {
  const w = new ConsoleWatch();
  w.feed(text);
  w.end();
  return w.facts;
}
