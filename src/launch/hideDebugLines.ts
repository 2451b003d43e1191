/**
 * The console as the user sees it while kiln asked kiln-init for its timings (--timeline): the
 * `kiln: debug:` lines are for the timeline, not for the screen. Whole lines are held back until their
 * newline comes; a partial line that is not the start of a debug line goes out at once, so a program's
 * prompt without a newline still shows.
 */
const PREFIX = "kiln: debug: ";

export function hideDebugLines(write: (b: Buffer) => void): { feed(b: Buffer): void; end(): void } {
  let held = Buffer.alloc(0);
  // Bytes of the current line already written (it was not a debug line).
  let passing = false;
  const feed = (chunk: Buffer) => {
    let buf = held.length ? Buffer.concat([held, chunk]) : chunk;
    held = Buffer.alloc(0);
    const out: Buffer[] = [];
    while (buf.length) {
      const nl = buf.indexOf(10);
      const line = nl < 0 ? buf : buf.subarray(0, nl + 1);
      if (passing) out.push(line);
      else {
        const head = line.subarray(0, PREFIX.length).toString("latin1");
        if (!PREFIX.startsWith(head)) {
          out.push(line);
          passing = nl < 0;
        } else if (nl < 0) {
          // Could still become a debug line: wait for more.
          held = Buffer.from(line);
        }
        // else: a whole debug line, dropped.
      }
      if (nl < 0) break;
      passing = false;
      buf = buf.subarray(nl + 1);
    }
    if (out.length) write(Buffer.concat(out));
  };
  return {
    feed,
    end: () => {
      if (held.length) write(held);
      held = Buffer.alloc(0);
    },
  };
}
