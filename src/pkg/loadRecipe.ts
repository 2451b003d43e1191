/**
 * Read and check a kiln.toml: TOML syntax (smol-toml gives the line), then the schema (recipe.ts); every
 * error names the file, the line and the key, and quotes the bad value.
 */
import { basename, dirname, join, resolve } from "node:path";
import type { z } from "zod";
import { q, usageError } from "../core/errors.js";
import { missingOr } from "../core/fsError.js";
import { readUserFile } from "../core/userFile.js";
import { isRecipe, KEYS, KilnToml, type Recipe } from "./recipe.js";
import { locateKey } from "./tomlLocate.js";

export interface LoadedToml {
  /** Absolute path of the kiln.toml. */
  file: string;
  /** Its directory (relative paths in it are relative to this). */
  dir: string;
  text: string;
  toml: KilnToml;
}

export interface LoadedRecipe extends LoadedToml {
  toml: Recipe;
}

export const MANIFEST = "kiln.toml";

/** `dirOrFile` is a directory holding kiln.toml, or the file itself. Missing file: KILN_ERECIPE_NOT_FOUND. */
export async function loadToml(dirOrFile: string): Promise<LoadedToml> {
  const abs = resolve(dirOrFile);
  const file = basename(abs) === MANIFEST || abs.endsWith(".toml") ? abs : join(abs, MANIFEST);
  let text: string;
  try {
    text = await readUserFile(file, "recipe", "utf8");
  } catch (e) {
    throw missingOr(e, file, "read", () =>
      usageError(
        "KILN_ERECIPE_NOT_FOUND",
        `Cannot read ${q(file)}: no such file`,
        "Run this in a directory with a kiln.toml, or give its path.",
      ),
    );
  }
  return { file, dir: dirname(file), text, toml: await parseToml(text, file) };
}

/** A kiln.toml that must be a package recipe (it has a name). */
export async function loadRecipe(dirOrFile: string): Promise<LoadedRecipe> {
  const t = await loadToml(dirOrFile);
  if (!isRecipe(t.toml)) {
    throw usageError(
      "KILN_ERECIPE_INVALID",
      `${q(t.file)} is a project file, not a package recipe: it has no name`,
      'A recipe starts with name = "...", version = "..." and license = "..."; see packages/ for examples.',
      { file: t.file },
    );
  }
  return t as LoadedRecipe;
}

export async function parseToml(text: string, file: string): Promise<KilnToml> {
  const { parse, TomlError } = await import("smol-toml");
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    if (e instanceof TomlError) {
      throw usageError(
        "KILN_ERECIPE_INVALID",
        `Cannot parse ${q(file)} line ${e.line}, column ${e.column}: ${e.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "")}`,
        "Fix the TOML syntax at that place.",
        { file, line: e.line },
      );
    }
    throw e;
  }
  const r = KilnToml.safeParse(raw);
  if (r.success) return r.data;
  throw schemaError(r.error.issues, text, file, raw);
}

function schemaError(issues: z.core.$ZodIssue[], text: string, file: string, raw: unknown) {
  const issue = issues[0]!;
  let path = issue.path.map((p) => (typeof p === "symbol" ? String(p) : p));
  let why = issue.message;
  if (issue.code === "unrecognized_keys") {
    path = [...path, issue.keys[0]!];
    why = "unknown key";
  } else if (issue.code === "invalid_type" && valueAt(raw, path) === undefined) {
    why = "is required";
  } else {
    const v = valueAt(raw, path);
    if (v !== undefined && (typeof v !== "object" || v === null) && issue.code !== "custom")
      why = `${q(v)}: ${why}`;
    else if (v !== undefined && (typeof v !== "object" || v === null) && why.startsWith("must"))
      why = `${q(v)} ${why}`;
  }
  const key = path.map(String).join(".") || "(top level)";
  const line = locateKey(text, path);
  const table = path.find((p) => typeof p === "string" && p !== path[path.length - 1]) ?? "";
  const allowed = KEYS[issue.code === "unrecognized_keys" ? String(issue.path[0] ?? "") : String(table)];
  const hint =
    issue.code === "unrecognized_keys" && allowed
      ? `Known keys${issue.path.length ? ` of [${issue.path.filter((p) => typeof p === "string").join(".")}]` : ""}: ${allowed.join(", ")}.`
      : "packages/README.md describes every key; packages/ holds recipes that work.";
  return usageError(
    "KILN_ERECIPE_INVALID",
    `Cannot use ${q(file)}${line ? ` line ${line}` : ""}: key ${q(key)}: ${why}`,
    hint,
    { file, ...(line ? { line } : {}), key },
  );
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let cur = raw;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}
