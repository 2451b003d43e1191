/** Quoting for the files kiln writes into a tool directory: each format has its own rules. */

/** A POSIX shell word: single quotes, with embedded single quotes closed, escaped and reopened. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A word in a GCC specs file: whitespace and backslash are escaped with a backslash, `%` is doubled. */
export function specsWord(s: string): string {
  return s.replace(/[\\\s]/g, (c) => `\\${c}`).replaceAll("%", "%%");
}

/** A CMake bracket argument, which takes everything literally (no `;`, `$`, `\` processing). */
export function cmakeQuote(s: string): string {
  let eq = "=";
  while (s.includes(`]${eq}]`)) eq += "=";
  return `[${eq}[${s}]${eq}]`;
}

/** A string in a Meson machine file (single-quoted, backslash escapes). */
export function mesonQuote(s: string): string {
  return `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}
