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

/**
 * A string in a Meson machine file. Meson 1.0 reads these without escape sequences, so a value holding a
 * single quote goes in triple quotes (toolchain paths never hold three in a row: checked beforehand).
 */
export function mesonQuote(s: string): string {
  if (!s.includes("'")) return `'${s}'`;
  if (s.includes("'''") || s.endsWith("'")) throw new Error(`cannot quote ${JSON.stringify(s)} for Meson`);
  return `'''${s}'''`;
}
