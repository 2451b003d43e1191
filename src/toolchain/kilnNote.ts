import { encodeKilnNote, KILN_NOTE_NAME, KILN_NOTE_TYPE, type KilnNote } from "../core/elf.js";

/**
 * Assembly for the object every kiln link includes: one ELF note (owner "kiln") in its own section
 * `.note.kiln`. The section is allocated (so `strip` keeps it and it lands in a PT_NOTE segment) and
 * carries SHF_GNU_RETAIN ("R"), so `--gc-sections` keeps it with both GNU ld and lld.
 */
export function kilnNoteAsm(note: KilnNote): string {
  const name = Buffer.from(`${KILN_NOTE_NAME}\0`, "utf8");
  const desc = encodeKilnNote(note);
  const bytes = (b: Buffer) => {
    const lines: string[] = [];
    for (let i = 0; i < b.length; i += 16) lines.push(`\t.byte ${[...b.subarray(i, i + 16)].join(",")}`);
    return lines.join("\n");
  };
  return [
    `# kiln note: ${Object.entries(note)
      .map(([k, v]) => `${k}=${v}`)
      .join("; ")}`,
    '\t.section .note.kiln,"aR",@note',
    "\t.balign 4",
    `\t.long ${name.length}, ${desc.length}, ${KILN_NOTE_TYPE}`,
    bytes(name),
    "\t.balign 4",
    bytes(desc),
    "\t.balign 4",
    '\t.section .note.GNU-stack,"",@progbits',
    "",
  ].join("\n");
}
