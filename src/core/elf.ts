import { KilnError, q } from "./errors.js";
import { fsError } from "./fsError.js";
import { readUserFile } from "./userFile.js";

/**
 * A small ELF reader (ELF32 and ELF64, either byte order): enough to tell what a program is (static or
 * dynamic, interpreter, needed libraries) and to read its notes, kiln's own among them. Written by hand
 * because no maintained npm package reads notes and dynamic sections; it reads whole files, and refuses
 * anything malformed with KILN_ENOT_ELF rather than guessing.
 */
export interface ElfSection {
  name: string;
  type: string;
  offset: number;
  size: number;
}

export interface ElfSegment {
  type: string;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: string;
}

export interface ElfNote {
  /** The section that holds the note, or "" when read from a PT_NOTE segment of a file without sections. */
  section: string;
  name: string;
  type: number;
  desc: Buffer;
}

export interface ElfInfo {
  class: "ELF32" | "ELF64";
  endian: "little" | "big";
  type: string;
  machine: string;
  entry: number;
  interp?: string;
  /** No PT_INTERP and no DT_NEEDED: runs without a dynamic loader (static-pie counts as static). */
  isStatic: boolean;
  /** A PIE or static-pie executable, or a shared object (ET_DYN). */
  pie: boolean;
  needed: string[];
  runpath: string[];
  rpath: string[];
  soname?: string;
  sections: ElfSection[];
  segments: ElfSegment[];
  notes: ElfNote[];
}

/** What kiln's note (section `.note.kiln`, owner "kiln") records about how a program was made. */
export interface KilnNote {
  tuple: string;
  libc: string;
  toolchain: string;
  /** The C++ runtime a C++ program carries: "libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)". */
  cxx?: string;
}

/** Owner name and note type of the note the kiln toolchain links into every program ("kiln" in ASCII). */
export const KILN_NOTE_NAME = "kiln";
export const KILN_NOTE_TYPE = 0x6b696c6e;

const TYPES: Record<number, string> = { 0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE" };
const MACHINES: Record<number, string> = {
  0: "none",
  3: "i386",
  8: "mips",
  20: "ppc",
  21: "ppc64",
  22: "s390",
  40: "arm",
  50: "ia64",
  62: "x86_64",
  183: "aarch64",
  243: "riscv",
  247: "bpf",
  258: "loongarch",
};
const SECTION_TYPES: Record<number, string> = {
  0: "NULL",
  1: "PROGBITS",
  2: "SYMTAB",
  3: "STRTAB",
  4: "RELA",
  5: "HASH",
  6: "DYNAMIC",
  7: "NOTE",
  8: "NOBITS",
  9: "REL",
  10: "SHLIB",
  11: "DYNSYM",
  14: "INIT_ARRAY",
  15: "FINI_ARRAY",
  16: "PREINIT_ARRAY",
  17: "GROUP",
  18: "SYMTAB_SHNDX",
  19: "RELR",
  1879048182: "GNU_HASH",
  1879048189: "VERDEF",
  1879048190: "VERNEED",
  1879048191: "VERSYM",
  1879048181: "GNU_ATTRIBUTES",
  1879002112: "LLVM_ODRTAB",
  1879002115: "LLVM_ADDRSIG",
};
/** Processor-specific section types (SHT_LOPROC and up) mean different things per machine. */
const PROC_SECTION_TYPES: Record<number, Record<number, string>> = {
  62: { 1879048193: "X86_64_UNWIND" },
  40: { 1879048193: "ARM_EXIDX", 1879048194: "ARM_PREEMPTMAP", 1879048195: "ARM_ATTRIBUTES" },
  183: { 1879048195: "AARCH64_ATTRIBUTES" },
  243: { 1879048195: "RISCV_ATTRIBUTES" },
};
const SEGMENT_TYPES: Record<number, string> = {
  0: "NULL",
  1: "LOAD",
  2: "DYNAMIC",
  3: "INTERP",
  4: "NOTE",
  5: "SHLIB",
  6: "PHDR",
  7: "TLS",
  1685382480: "GNU_EH_FRAME",
  1685382481: "GNU_STACK",
  1685382482: "GNU_RELRO",
  1685382483: "GNU_PROPERTY",
};
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const PT_NOTE = 4;
const SHT_DYNAMIC = 6;
const SHT_NOTE = 7;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Bounds-checked reads: every offset a file gives is checked before use. */
class Reader {
  constructor(
    readonly buf: Buffer,
    readonly little: boolean,
    readonly is64: boolean,
    readonly fail: (why: string) => never,
  ) {}

  private check(off: number, len: number): void {
    if (!Number.isSafeInteger(off) || off < 0 || off + len > this.buf.length) {
      this.fail(`truncated (needs bytes ${off}..${off + len}, file has ${this.buf.length})`);
    }
  }
  u16(off: number): number {
    this.check(off, 2);
    return this.little ? this.buf.readUInt16LE(off) : this.buf.readUInt16BE(off);
  }
  u32(off: number): number {
    this.check(off, 4);
    return this.little ? this.buf.readUInt32LE(off) : this.buf.readUInt32BE(off);
  }
  u64(off: number): number {
    this.check(off, 8);
    const v = this.little ? this.buf.readBigUInt64LE(off) : this.buf.readBigUInt64BE(off);
    // Addresses above 2^53 (kernel space) lose precision but stay usable as identifiers; offsets never get there.
    return Number(v);
  }
  /** A word: 4 bytes in ELF32, 8 in ELF64. */
  word(off: number): number {
    return this.is64 ? this.u64(off) : this.u32(off);
  }
  bytes(off: number, len: number): Buffer {
    this.check(off, len);
    return this.buf.subarray(off, off + len);
  }
  cstr(off: number, limit = this.buf.length): string {
    this.check(off, 0);
    const end = this.buf.indexOf(0, off);
    if (end < 0 || end > limit) this.fail(`unterminated string at offset ${off}`);
    return this.buf.toString("utf8", off, end);
  }
}

interface RawSection {
  nameOff: number;
  type: number;
  offset: number;
  size: number;
  link: number;
  align: number;
}
interface RawSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export function notElf(label: string, why: string): KilnError {
  return new KilnError(
    "KILN_ENOT_ELF",
    `Cannot read ${q(label)} as an ELF file: ${why}`,
    "Give the path of a compiled program (for example one built with x86_64-kiln-linux-musl-gcc).",
    { kind: "usage" },
  );
}

/** Read an ELF file (a path or its bytes). Non-ELF or truncated input is KILN_ENOT_ELF quoting the path. */
export async function readElf(input: string | Buffer, label?: string): Promise<ElfInfo> {
  if (typeof input !== "string") return parseElf(input, label ?? "<buffer>");
  let buf: Buffer;
  try {
    buf = await readUserFile(input, "ELF file");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new KilnError("KILN_ENOENT", `Cannot read ${q(input)}: no such file`, "Check the path.", {
        kind: "usage",
        cause: e,
      });
    }
    if (code === "EISDIR") throw notElf(input, "it is a directory");
    throw fsError(e, input, "read");
  }
  return parseElf(buf, label ?? input);
}

export function parseElf(buf: Buffer, label: string): ElfInfo {
  const fail = (why: string): never => {
    throw notElf(label, why);
  };
  if (buf.length < 16 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) {
    fail(buf.length < 4 ? "file too short" : "no ELF magic number");
  }
  const cls = buf[4];
  const data = buf[5];
  if (cls !== 1 && cls !== 2) fail(`unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) fail(`unknown ELF data encoding ${data}`);
  const is64 = cls === 2;
  const r = new Reader(buf, data === 1, is64, fail);

  // ELF header: e_type, e_machine at 16/18, then words whose size depends on the class.
  const eType = r.u16(16);
  const eMachine = r.u16(18);
  const entry = r.word(24);
  const phoff = is64 ? r.u64(32) : r.u32(28);
  const shoff = is64 ? r.u64(40) : r.u32(32);
  const hdr = is64 ? 48 : 36; // offset of e_flags + 4
  const phentsize = r.u16(hdr + 6);
  let phnum = r.u16(hdr + 8);
  const shentsize = r.u16(hdr + 10);
  let shnum = r.u16(hdr + 12);
  let shstrndx = r.u16(hdr + 14);

  const sectionsRaw: RawSection[] = [];
  if (shoff !== 0) {
    if (shentsize < (is64 ? 64 : 40)) fail(`section header size ${shentsize} too small`);
    const readSection = (i: number): RawSection => {
      const o = shoff + i * shentsize;
      return is64
        ? {
            nameOff: r.u32(o),
            type: r.u32(o + 4),
            offset: r.u64(o + 24),
            size: r.u64(o + 32),
            link: r.u32(o + 40),
            align: r.u64(o + 48),
          }
        : {
            nameOff: r.u32(o),
            type: r.u32(o + 4),
            offset: r.u32(o + 16),
            size: r.u32(o + 20),
            link: r.u32(o + 24),
            align: r.u32(o + 32),
          };
    };
    // Extended numbering: with 0xff00 or more sections the real counts live in section 0.
    const first = readSection(0);
    if (shnum === 0) shnum = first.size;
    if (shstrndx === 0xffff) shstrndx = first.link;
    if (phnum === 0xffff) phnum = is64 ? r.u32(shoff + 44) : r.u32(shoff + 28);
    r.bytes(shoff, shnum * shentsize);
    for (let i = 0; i < shnum; i++) sectionsRaw.push(i === 0 ? first : readSection(i));
  }

  const segmentsRaw: RawSegment[] = [];
  if (phoff !== 0 && phnum > 0) {
    if (phentsize < (is64 ? 56 : 32)) fail(`program header size ${phentsize} too small`);
    r.bytes(phoff, phnum * phentsize);
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      segmentsRaw.push(
        is64
          ? {
              type: r.u32(o),
              flags: r.u32(o + 4),
              offset: r.u64(o + 8),
              vaddr: r.u64(o + 16),
              filesz: r.u64(o + 32),
              memsz: r.u64(o + 40),
              align: r.u64(o + 48),
            }
          : {
              type: r.u32(o),
              offset: r.u32(o + 4),
              vaddr: r.u32(o + 8),
              filesz: r.u32(o + 16),
              memsz: r.u32(o + 20),
              flags: r.u32(o + 24),
              align: r.u32(o + 28),
            },
      );
    }
  }

  const shstr = sectionsRaw[shstrndx];
  const sectionName = (s: RawSection): string => {
    if (!shstr || shstrndx === 0) return "";
    if (s.nameOff >= shstr.size) fail(`section name offset ${s.nameOff} outside the string table`);
    return r.cstr(shstr.offset + s.nameOff, shstr.offset + shstr.size);
  };
  const sections: ElfSection[] = sectionsRaw.map((s) => ({
    name: sectionName(s),
    type: SECTION_TYPES[s.type] ?? PROC_SECTION_TYPES[eMachine]?.[s.type] ?? hex(s.type),
    offset: s.offset,
    size: s.size,
  }));

  let interp: string | undefined;
  const interpSeg = segmentsRaw.find((p) => p.type === PT_INTERP);
  if (interpSeg) interp = r.cstr(interpSeg.offset, interpSeg.offset + interpSeg.filesz);

  // Dynamic entries: from PT_DYNAMIC (what the loader sees), else from the SHT_DYNAMIC section.
  const needed: string[] = [];
  const runpath: string[] = [];
  const rpath: string[] = [];
  let soname: string | undefined;
  const dynSeg = segmentsRaw.find((p) => p.type === PT_DYNAMIC);
  const dynSecIdx = sectionsRaw.findIndex((s) => s.type === SHT_DYNAMIC);
  const dyn = dynSeg
    ? { offset: dynSeg.offset, size: dynSeg.filesz }
    : dynSecIdx >= 0
      ? { offset: sectionsRaw[dynSecIdx]!.offset, size: sectionsRaw[dynSecIdx]!.size }
      : undefined;
  if (dyn) {
    const entSize = is64 ? 16 : 8;
    const entries: [number, number][] = [];
    for (let o = dyn.offset; o + entSize <= dyn.offset + dyn.size; o += entSize) {
      const tag = is64 ? r.u64(o) : r.u32(o);
      if (tag === DT_NULL) break;
      entries.push([tag, r.word(o + (is64 ? 8 : 4))]);
    }
    const strtabAddr = entries.find(([t]) => t === DT_STRTAB)?.[1];
    let strOff: number | undefined;
    let strEnd = buf.length;
    if (strtabAddr !== undefined) {
      const load = segmentsRaw.find(
        (p) => p.type === PT_LOAD && strtabAddr >= p.vaddr && strtabAddr < p.vaddr + p.filesz,
      );
      if (load) {
        strOff = load.offset + (strtabAddr - load.vaddr);
        strEnd = load.offset + load.filesz;
      }
    }
    if (strOff === undefined && dynSecIdx >= 0) {
      const linked = sectionsRaw[sectionsRaw[dynSecIdx]!.link];
      if (linked) {
        strOff = linked.offset;
        strEnd = linked.offset + linked.size;
      }
    }
    const str = (v: number): string => {
      if (strOff === undefined) return fail("dynamic section without a string table");
      return r.cstr(strOff + v, strEnd);
    };
    const paths = (s: string) => s.split(":").filter(Boolean);
    for (const [tag, val] of entries) {
      if (tag === DT_NEEDED) needed.push(str(val));
      else if (tag === DT_SONAME) soname = str(val);
      else if (tag === DT_RPATH) rpath.push(...paths(str(val)));
      else if (tag === DT_RUNPATH) runpath.push(...paths(str(val)));
    }
  }

  // Notes: from SHT_NOTE sections; a file without section headers still has its PT_NOTE segments.
  const notes: ElfNote[] = [];
  const noteAreas: { section: string; offset: number; size: number; align: number }[] = sectionsRaw.length
    ? sectionsRaw
        .map((s, i) => ({ s, i }))
        .filter(({ s }) => s.type === SHT_NOTE)
        .map(({ s, i }) => ({ section: sections[i]!.name, offset: s.offset, size: s.size, align: s.align }))
    : segmentsRaw
        .filter((p) => p.type === PT_NOTE)
        .map((p) => ({ section: "", offset: p.offset, size: p.filesz, align: p.align }));
  for (const area of noteAreas) {
    // Notes are 4-aligned, except 8-aligned ones (.note.gnu.property in ELF64) whose section says so.
    const align = area.align === 8 ? 8 : 4;
    // Padding is relative to the start of the note area (name and desc each end on an alignment boundary).
    const pad = (at: number) => area.offset + Math.ceil((at - area.offset) / align) * align;
    let o = area.offset;
    const end = area.offset + area.size;
    r.bytes(area.offset, area.size);
    while (o + 12 <= end) {
      const namesz = r.u32(o);
      const descsz = r.u32(o + 4);
      const type = r.u32(o + 8);
      const nameStart = o + 12;
      const descStart = pad(nameStart + namesz);
      if (descStart + descsz > end) fail(`note in ${q(area.section || "PT_NOTE")} runs past its end`);
      const rawName = r.bytes(nameStart, namesz);
      const nul = rawName.indexOf(0);
      notes.push({
        section: area.section,
        name: rawName.toString("utf8", 0, nul < 0 ? namesz : nul),
        type,
        desc: Buffer.from(r.bytes(descStart, descsz)),
      });
      o = pad(descStart + descsz);
    }
  }

  return {
    class: is64 ? "ELF64" : "ELF32",
    endian: data === 1 ? "little" : "big",
    type: TYPES[eType] ?? hex(eType),
    machine: MACHINES[eMachine] ?? hex(eMachine),
    entry,
    ...(interp !== undefined ? { interp } : {}),
    isStatic: interp === undefined && needed.length === 0,
    pie: eType === 3,
    needed,
    runpath,
    rpath,
    ...(soname !== undefined ? { soname } : {}),
    sections,
    segments: segmentsRaw.map((p) => ({
      type: SEGMENT_TYPES[p.type] ?? hex(p.type),
      offset: p.offset,
      vaddr: p.vaddr,
      filesz: p.filesz,
      memsz: p.memsz,
      flags: `${p.flags & 4 ? "R" : " "}${p.flags & 2 ? "W" : " "}${p.flags & 1 ? "E" : " "}`,
    })),
    notes,
  };
}

/** The kiln note's desc: NUL-terminated `key=value` strings (readable with `readelf -p .note.kiln`). */
export function encodeKilnNote(note: KilnNote): Buffer {
  const cxx = note.cxx === undefined ? "" : `cxx=${note.cxx}\0`;
  return Buffer.from(`tuple=${note.tuple}\0libc=${note.libc}\0toolchain=${note.toolchain}\0${cxx}`, "utf8");
}

export function readKilnNote(info: Pick<ElfInfo, "notes">): KilnNote | undefined {
  const note = info.notes.find((n) => n.name === KILN_NOTE_NAME && n.type === KILN_NOTE_TYPE);
  if (!note) return undefined;
  const fields = new Map<string, string>();
  for (const part of note.desc.toString("utf8").split("\0")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const tuple = fields.get("tuple");
  const libc = fields.get("libc");
  const toolchain = fields.get("toolchain");
  if (tuple === undefined || libc === undefined || toolchain === undefined) return undefined;
  const cxx = fields.get("cxx");
  return { tuple, libc, toolchain, ...(cxx === undefined ? {} : { cxx }) };
}
