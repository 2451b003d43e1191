/**
 * A reader for Unix `ar` archives (the outer layer of a .deb): it lists the members and where their bytes
 * are, so that callers stream a member straight from the file without copying it.
 */
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { KilnError, q } from "./errors.js";

export interface ArMember {
  name: string;
  /** Byte offset of the member's data in the archive. */
  offset: number;
  size: number;
  mode: number;
}

const MAGIC = "!<arch>\n";
const HEADER = 60;

export async function readArMembers(path: string): Promise<ArMember[]> {
  const fh = await open(path, "r");
  try {
    const { size: total } = await fh.stat();
    const head = Buffer.alloc(HEADER);
    const magic = Buffer.alloc(MAGIC.length);
    if (
      (await fh.read(magic, 0, magic.length, 0)).bytesRead !== magic.length ||
      magic.toString("latin1") !== MAGIC
    ) {
      throw invalid(path, "not an ar archive (bad magic)");
    }
    const members: ArMember[] = [];
    let gnuNames: Buffer | undefined;
    let pos = MAGIC.length;
    while (pos < total) {
      // Members start on even offsets; a lone trailing newline pad byte ends the archive.
      if (pos + 1 === total) break;
      const { bytesRead } = await fh.read(head, 0, HEADER, pos);
      if (bytesRead !== HEADER) throw invalid(path, `truncated member header at offset ${pos}`);
      if (head.toString("latin1", 58, 60) !== "`\n")
        throw invalid(path, `bad member header at offset ${pos}`);
      const field = (a: number, b: number) => head.toString("latin1", a, b).trimEnd();
      let name = field(0, 16);
      const sizeText = field(48, 58);
      if (!/^\d+$/.test(sizeText)) throw invalid(path, `bad member size ${q(sizeText)} at offset ${pos}`);
      let size = Number(sizeText);
      let offset = pos + HEADER;
      const mode = Number.parseInt(field(40, 48) || "0", 8) || 0;
      if (offset + size > total) {
        throw invalid(
          path,
          `member ${q(name)} needs ${size} bytes at offset ${offset}, the file ends at ${total} (truncated?)`,
        );
      }
      if (name.startsWith("#1/")) {
        // BSD long name: stored at the start of the data.
        const n = Number(name.slice(3));
        if (!Number.isInteger(n) || n > size) throw invalid(path, `bad BSD long name at offset ${pos}`);
        const b = Buffer.alloc(n);
        await fh.read(b, 0, n, offset);
        name = b.toString("utf8").replace(/\0+$/, "");
        offset += n;
        size -= n;
      } else if (name === "//") {
        gnuNames = Buffer.alloc(size);
        await fh.read(gnuNames, 0, size, offset);
        name = "";
      } else if (/^\/\d+$/.test(name) && gnuNames) {
        const start = Number(name.slice(1));
        const end = gnuNames.indexOf("/\n", start);
        name = gnuNames.toString("utf8", start, end < 0 ? undefined : end);
      } else if (name === "/" || name === "/SYM64/") {
        name = ""; // symbol table
      } else if (name.endsWith("/")) {
        name = name.slice(0, -1); // GNU short name terminator
      }
      if (name) members.push({ name, offset, size, mode });
      pos = pos + HEADER + Number(sizeText);
      if (pos % 2 === 1) pos++;
    }
    return members;
  } finally {
    await fh.close();
  }
}

/** The bytes of one member, streamed from the archive. */
export function arMemberStream(path: string, m: ArMember): Readable {
  if (m.size === 0) return Readable.from([]);
  return createReadStream(path, { start: m.offset, end: m.offset + m.size - 1 });
}

function invalid(path: string, why: string): KilnError {
  return new KilnError(
    "KILN_EARCHIVE_INVALID",
    `Cannot read archive ${q(path)}: ${why}`,
    "The file is damaged or not an ar archive (.deb); download it again.",
  );
}
