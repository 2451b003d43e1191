import { sha256 } from "../core/digest.js";
import { parseElf, readKilnNote } from "../core/elf.js";
import { KilnError, q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { readUserFile } from "../core/userFile.js";
import { TUPLE } from "../core/version.js";

/** A program that is not there is KILN_EPROGRAM_NOT_FOUND; any other fault (permissions, size) says which. */
function programUnreadable(e: unknown, path: string, hint: string): unknown {
  const dir = (e as NodeJS.ErrnoException).code === "EISDIR";
  const notFound = () =>
    usageError(
      "KILN_EPROGRAM_NOT_FOUND",
      `Cannot read program ${q(path)}: ${dir ? "it is a directory" : "no such file"}`,
      hint,
    );
  return dir ? notFound() : missingOr(e, path, "read program", notFound);
}

export interface CheckedProgram {
  path: string;
  data: Buffer;
  sha256: string;
  note?: Record<string, string>;
}

/**
 * Bake takes only what the kiln toolchain made: a static x86-64 ELF carrying a `.note.kiln` for our tuple
 * (Rumprun's bake checked its own note the same way). Anything else would fail inside the VM, far from
 * the cause, so it is refused here with the reason.
 */
export async function checkProgram(path: string): Promise<CheckedProgram> {
  let data: Buffer;
  try {
    data = await readUserFile(path, "program");
  } catch (e) {
    throw programUnreadable(
      e,
      path,
      "Give the path of a program built with the kiln toolchain (`kiln toolchain`).",
    );
  }
  const elf = parseElf(data, path);
  if (elf.machine !== "x86_64") {
    throw new KilnError(
      "KILN_EPROGRAM_FOREIGN",
      `Program ${q(path)} is for ${q(elf.machine)}, not x86_64`,
      `Build it with ${TUPLE}-gcc.`,
      { kind: "usage" },
    );
  }
  if (!elf.isStatic) {
    throw new KilnError(
      "KILN_EPROGRAM_DYNAMIC",
      `Program ${q(path)} is dynamically linked (interpreter ${q(elf.interp ?? "?")}, needs ${elf.needed.map((n) => q(n)).join(", ") || "nothing"})`,
      `Build it with ${TUPLE}-gcc, which links statically against musl.`,
      { kind: "usage" },
    );
  }
  const note = readKilnNote(elf);
  if (!note) {
    throw new KilnError(
      "KILN_EPROGRAM_FOREIGN",
      `Program ${q(path)} was not built with the kiln toolchain (it has no .note.kiln)`,
      `Rebuild it with ${TUPLE}-gcc (\`eval "$(kiln toolchain env)"\`).`,
      { kind: "usage" },
    );
  }
  if (note.tuple !== TUPLE) {
    throw new KilnError(
      "KILN_EPROGRAM_FOREIGN",
      `Program ${q(path)} was built for ${q(note.tuple)}, not ${q(TUPLE)}`,
      `Rebuild it with ${TUPLE}-gcc.`,
      { kind: "usage" },
    );
  }
  return { path, data, sha256: sha256(data), note: { ...note } };
}

/**
 * A prepared program (a Debian package's) need not carry the kiln note, and may be dynamic: then its ELF
 * interpreter must be among the files that come with it, or the kernel could not start it.
 */
export async function checkProgramWithClosure(input: {
  src: string;
  dest: string;
  files?: { dest: string }[];
}): Promise<CheckedProgram> {
  let data: Buffer;
  try {
    data = await readUserFile(input.src, "program");
  } catch (e) {
    throw programUnreadable(e, input.src, "Resolve the package again.");
  }
  const elf = parseElf(data, input.src);
  if (elf.machine !== "x86_64") {
    throw new KilnError(
      "KILN_EPROGRAM_FOREIGN",
      `Program ${q(input.src)} is for ${q(elf.machine)}, not x86_64`,
      "Use an amd64 package.",
      { kind: "usage" },
    );
  }
  if (!elf.isStatic && elf.interp && !(input.files ?? []).some((f) => f.dest === elf.interp)) {
    throw new KilnError(
      "KILN_EPROGRAM_DYNAMIC",
      `Program ${q(input.dest)} needs the interpreter ${q(elf.interp)}, which its files do not bring`,
      "Resolve it with its library closure (deb:NAME does), or build it with the kiln toolchain.",
      { kind: "usage" },
    );
  }
  return { path: input.src, data, sha256: sha256(data) };
}
