/**
 * Where a key of a TOML document is written, for error messages that name a line. smol-toml gives
 * positions only for syntax errors, so this scans the text: table headers (`[a.b]`, `[[a]]` with its
 * running index) and `key = value` lines (dotted and quoted keys too). A path that goes inside an inline
 * table or array (`sources = [{ url = ... }]`) is placed on the line of its longest written prefix.
 */
export function locateKey(text: string, path: readonly (string | number)[]): number | undefined {
  const want = path.map(String);
  let best: { line: number; depth: number } | undefined;
  const consider = (defined: string[], line: number) => {
    let depth = 0;
    while (depth < defined.length && depth < want.length && defined[depth] === want[depth]) depth++;
    // Only a definition that is wholly a prefix of the path (or the path itself) says where it is.
    if (depth < defined.length || depth === 0) return;
    if (!best || depth > best.depth) best = { line, depth };
  };
  let table: string[] = [];
  const arrayCounts = new Map<string, number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const arr = /^\s*\[\[\s*([^\]]+?)\s*\]\]/.exec(line);
    if (arr) {
      const base = splitKey(arr[1]!);
      const id = base.join("\0");
      const n = arrayCounts.get(id) ?? 0;
      arrayCounts.set(id, n + 1);
      // Sub-tables of an earlier array element are reset when a new element starts.
      for (const k of arrayCounts.keys()) if (k.startsWith(`${id}\0`)) arrayCounts.delete(k);
      table = [...withIndexes(base, arrayCounts), String(n)];
      consider(table, i + 1);
      continue;
    }
    const tab = /^\s*\[\s*([^\]]+?)\s*\]/.exec(line);
    if (tab) {
      table = withIndexes(splitKey(tab[1]!), arrayCounts);
      consider(table, i + 1);
      continue;
    }
    const kv =
      /^\s*((?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=/.exec(
        line,
      );
    if (kv) consider([...table, ...splitKey(kv[1]!)], i + 1);
  }
  return best?.line;
}

/** `a."b.c".d` → ["a", "b.c", "d"]. */
function splitKey(key: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(?:\.|$)/gy;
  for (let m = re.exec(key); m && m[0] !== ""; m = re.exec(key)) {
    out.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : (m[2] ?? m[3]!));
  }
  return out;
}

/** A header `[a.b]` inside the current element of `[[a]]` means a.<index>.b. */
function withIndexes(parts: string[], counts: Map<string, number>): string[] {
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    out.push(parts[i]!);
    const n = counts.get(parts.slice(0, i + 1).join("\0"));
    if (n !== undefined && i < parts.length - 1) out.push(String(n - 1));
  }
  return out;
}
