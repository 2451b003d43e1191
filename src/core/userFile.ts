import type { Stats } from "node:fs";
import { constants, open } from "node:fs/promises";
import { type KilnError, q, usageError } from "./errors.js";

/**
 * A path the user named that is a pipe, a socket or a device: refused, since reading it could wait
 * forever (a FIFO nobody writes) or never end (/dev/zero).
 */
export function notAFile(path: string, what: string, st: Stats): KilnError {
  const kind = st.isFIFO()
    ? "a pipe (FIFO)"
    : st.isSocket()
      ? "a socket"
      : st.isCharacterDevice()
        ? "a character device"
        : "a block device";
  return usageError(
    "KILN_ENOT_FILE",
    `Cannot read ${what} ${q(path)}: it is ${kind}, not a file`,
    "Give the path of a regular file.",
    { path, what },
  );
}

/**
 * Read a file the user named, refusing pipes, sockets and devices (notAFile) before reading: it is opened
 * without blocking, so a FIFO with no writer cannot hang kiln. A directory still fails as reading one does
 * (EISDIR), and every other error is the caller's to map, as with readFile.
 */
export async function readUserFile(path: string, what: string): Promise<Buffer>;
export async function readUserFile(path: string, what: string, encoding: "utf8"): Promise<string>;
export async function readUserFile(path: string, what: string, encoding?: "utf8"): Promise<Buffer | string> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() && !st.isDirectory()) throw notAFile(path, what, st);
    return encoding ? await fh.readFile(encoding) : await fh.readFile();
  } finally {
    await fh.close();
  }
}
