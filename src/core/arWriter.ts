/**
 * Unix `ar` archives as dpkg writes the outer layer of a .deb: the `!<arch>` magic, then per member a
 * 60-byte header (name padded to 16 bytes, no GNU `/` terminator; mtime, owner 0/0, mode 100644 in octal,
 * size) and the data padded to an even length with "\n". Fixed mtime and owners: deterministic.
 * Names must be at most 15 plain characters (a .deb needs nothing longer).
 */
import { KilnError, q } from "./errors.js";

export interface ArMemberInput {
  name: string;
  data: Uint8Array;
}

const field = (value: string, width: number): string => {
  if (value.length > width) throw new Error(`ar header field ${value} is wider than ${width}`);
  return value.padEnd(width, " ");
};

export function arArchive(members: readonly ArMemberInput[], mtime = 0): Buffer {
  const parts: Buffer[] = [Buffer.from("!<arch>\n", "latin1")];
  for (const m of members) {
    if (!/^[A-Za-z0-9._+-]{1,15}$/.test(m.name)) {
      throw new KilnError(
        "KILN_EAR_NAME",
        `Cannot store ${q(m.name)} in an ar archive: names are 1 to 15 plain characters`,
        "This is a bug in kiln; please report it.",
      );
    }
    const header =
      field(m.name, 16) +
      field(String(mtime), 12) +
      field("0", 6) +
      field("0", 6) +
      field("100644", 8) +
      field(String(m.data.length), 10) +
      "`\n";
    parts.push(Buffer.from(header, "latin1"), Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length));
    if (m.data.length % 2 === 1) parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}
