import { stat } from "node:fs/promises";
import { type KilnNote, readElf, readKilnNote } from "../core/elf.js";

/** What `kiln inspect PROGRAM` reports about a compiled program. */
export interface ProgramDescription {
  kind: "program";
  path: string;
  size: number;
  class: "ELF32" | "ELF64";
  endian: "little" | "big";
  type: string;
  machine: string;
  entry: number;
  linking: "static" | "dynamic";
  pie: boolean;
  interp?: string;
  needed: string[];
  rpath: string[];
  runpath: string[];
  soname?: string;
  /** The kiln note, when the kiln toolchain made the program; null otherwise. */
  kiln: KilnNote | null;
  notes: { section: string; name: string; type: number; size: number }[];
}

export async function describeProgram(path: string): Promise<ProgramDescription> {
  const info = await readElf(path);
  const { size } = await stat(path);
  return {
    kind: "program",
    path,
    size,
    class: info.class,
    endian: info.endian,
    type: info.type,
    machine: info.machine,
    entry: info.entry,
    linking: info.isStatic ? "static" : "dynamic",
    pie: info.pie,
    ...(info.interp !== undefined ? { interp: info.interp } : {}),
    needed: info.needed,
    rpath: info.rpath,
    runpath: info.runpath,
    ...(info.soname !== undefined ? { soname: info.soname } : {}),
    kiln: readKilnNote(info) ?? null,
    notes: info.notes.map((n) => ({ section: n.section, name: n.name, type: n.type, size: n.desc.length })),
  };
}
