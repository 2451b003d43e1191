/**
 * SPDX licence expressions (SPDX 2.3 Annex D): validated with spdx-expression-parse, which decides what a
 * valid identifier is; a small recursive-descent pass over the same grammar finds WHERE an invalid one goes
 * wrong, because the library's own errors often carry no position ("Syntax error", "Expected `)`").
 */
import { createRequire } from "node:module";
import parse from "spdx-expression-parse";
import { q, usageError } from "../core/errors.js";

// spdx-correct builds its tables when loaded (~15 ms): load it only when a name needs correcting.
const require = createRequire(import.meta.url);
let correct: typeof import("spdx-correct") | undefined;
export function spdxCorrect(name: string, opts?: { upgrade: boolean }): string | null {
  correct ??= require("spdx-correct") as typeof import("spdx-correct");
  return correct(name, opts);
}

export type LicenseAst = parse.Info;
export type LicenseLeaf = parse.LicenseInfo;

/** The SPDX values for "nobody said" and "there is none". */
export const NOASSERTION = "NOASSERTION";
export const NONE = "NONE";

interface Token {
  text: string;
  pos: number;
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  const re = /\s+|(\(|\))|([^\s()]+)/gy;
  for (let m = re.exec(s); m && m[0] !== ""; m = re.exec(s)) {
    if (m[1] || m[2]) out.push({ text: m[0], pos: m.index });
  }
  return out;
}

const isOp = (t: Token | undefined, op: string) => t !== undefined && t.text.toUpperCase() === op;

function validId(id: string): boolean {
  try {
    const r = parse(id) as { license?: string };
    return r.license !== undefined;
  } catch {
    return false;
  }
}

function validException(id: string): boolean {
  try {
    parse(`MIT WITH ${id}`);
    return true;
  } catch {
    return false;
  }
}

/** The first place where `s` breaks the grammar, with what was found and what was wanted. */
function locate(s: string): { pos: number; found: string; want: string } | undefined {
  const toks = tokenize(s);
  let i = 0;
  const fail = (want: string) => ({
    pos: toks[i]?.pos ?? s.length,
    found: toks[i]?.text ?? "end of expression",
    want,
  });
  const atom = (): ReturnType<typeof fail> | undefined => {
    const t = toks[i];
    if (t?.text === "(") {
      i++;
      const e = or();
      if (e) return e;
      if (toks[i]?.text !== ")") return fail('")"');
      i++;
      return undefined;
    }
    if (!t || t.text === ")" || isOp(t, "AND") || isOp(t, "OR") || isOp(t, "WITH"))
      return fail("a licence identifier");
    if (!validId(t.text)) return fail("an SPDX licence identifier or LicenseRef-...");
    i++;
    if (isOp(toks[i], "WITH")) {
      i++;
      const e = toks[i];
      if (!e || !validException(e.text)) return fail("an SPDX exception identifier after WITH");
      i++;
    }
    return undefined;
  };
  const and = () => {
    let e = atom();
    while (!e && isOp(toks[i], "AND")) {
      i++;
      e = atom();
    }
    return e;
  };
  const or = () => {
    let e = and();
    while (!e && isOp(toks[i], "OR")) {
      i++;
      e = and();
    }
    return e;
  };
  const e = or();
  if (e) return e;
  if (i < toks.length) return fail("AND, OR or the end of the expression");
  return undefined;
}

/** Render an AST back to text, with parentheses only where precedence needs them (AND binds tighter). */
export function renderLicense(ast: LicenseAst): string {
  if ("license" in ast)
    return `${ast.license}${ast.plus ? "+" : ""}${ast.exception ? ` WITH ${ast.exception}` : ""}`;
  const side = (x: LicenseAst) =>
    "conjunction" in x && ast.conjunction === "and" && x.conjunction === "or"
      ? `(${renderLicense(x)})`
      : renderLicense(x);
  return `${side(ast.left)} ${ast.conjunction.toUpperCase()} ${side(ast.right)}`;
}

export interface ParsedLicense {
  expression: string;
  ast: LicenseAst;
}

/**
 * Parse an SPDX expression; an invalid one is a usage error KILN_ELICENSE_INVALID naming the column and
 * the token, with spdx-correct's suggestion when it has one. `where` says where the expression came from.
 */
export function parseLicenseExpression(expr: string, where?: string): ParsedLicense {
  const text = expr.trim();
  if (text === NOASSERTION || text === NONE) {
    return { expression: text, ast: { license: text } };
  }
  let ast: LicenseAst | undefined;
  let libraryMessage = "";
  try {
    ast = parse(text);
  } catch (e) {
    libraryMessage = (e as Error).message;
  }
  if (ast) return { expression: renderLicense(ast), ast };
  const at = locate(text) ?? { pos: 0, found: text, want: `a valid expression (${libraryMessage})` };
  const suggestion = at.found !== "end of expression" ? spdxCorrect(at.found) : null;
  const caret = `${text}\n${" ".repeat(at.pos)}^`;
  throw usageError(
    "KILN_ELICENSE_INVALID",
    `Cannot parse licence expression ${q(text)}${where ? ` in ${where}` : ""}: found ${at.found === "end of expression" ? "the end of the expression" : q(at.found)} at column ${at.pos + 1}, expected ${at.want}`,
    `${suggestion && suggestion !== at.found ? `Did you mean ${q(suggestion)}? ` : ""}Write SPDX identifiers joined by AND, OR and WITH, like "MIT OR Apache-2.0" (list: https://spdx.org/licenses/).`,
    { position: at.pos, column: at.pos + 1, token: at.found, caret },
  );
}

/** True when `expr` is a valid SPDX expression (or NOASSERTION/NONE). */
export function isLicenseExpression(expr: string): boolean {
  try {
    parseLicenseExpression(expr);
    return true;
  } catch {
    return false;
  }
}

/** Every licence identifier in an expression (with "+" and WITH kept on the identifier), in order, unique. */
export function licenseLeaves(ast: LicenseAst): string[] {
  const out: string[] = [];
  const walk = (x: LicenseAst) => {
    if ("license" in x) out.push(renderLicense(x));
    else {
      walk(x.left);
      walk(x.right);
    }
  };
  walk(ast);
  return [...new Set(out)];
}

/** Join expressions with AND, dropping duplicate terms and NOASSERTION when something better is known. */
export function andLicenses(exprs: readonly string[]): string {
  const terms: string[] = [];
  const add = (ast: LicenseAst) => {
    if ("conjunction" in ast && ast.conjunction === "and") {
      add(ast.left);
      add(ast.right);
    } else terms.push(renderLicense(ast));
  };
  for (const e of exprs) {
    if (!e || e === NOASSERTION) continue;
    try {
      add(parse(e));
    } catch {
      terms.push(e);
    }
  }
  const unique = [...new Set(terms)];
  if (unique.length === 0) return NOASSERTION;
  return unique.map((t) => (unique.length > 1 && /\sOR\s/.test(t) ? `(${t})` : t)).join(" AND ");
}
