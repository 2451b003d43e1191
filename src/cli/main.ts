import { Command, CommanderError } from "commander";
import { isKilnError, KilnError, usageError } from "../core/errors.js";
import { fsError } from "../core/fsError.js";
import { KILN_VERSION } from "../core/version.js";
import { cliState } from "./context.js";

/** Each verb lives in commands/<verb>.ts and exports `register(program)`; heavy code loads in the action. */
const VERBS: readonly string[] = [
  "doctor",
  "toolchain",
  "inspect",
  "bake",
  "image",
  "run",
  "launch",
  "ps",
  "logs",
  "stop",
  "rm",
  "components",
  "push",
  "pull",
  "sbom",
  "licenses",
  "advisories",
  "audit",
  "verify",
  "pkg",
  "store",
  "gc",
];

export async function main(argv: string[]): Promise<number> {
  const program = new Command("kiln")
    .description("kiln: turn programs into unikernel VM images, launch them, ship them as packages")
    .version(KILN_VERSION, "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => {} });
  // Loading every verb costs more than many verbs take: load only the one asked for (all of them for help).
  const only = argv[0] && VERBS.includes(argv[0]) ? [argv[0]] : VERBS;
  for (const verb of only) {
    const mod = (await import(`./commands/${verb}.js`)) as { register(p: Command): void };
    mod.register(program);
  }
  for (const c of program.commands) quietErrors(c);
  program.hook("preAction", (_program, action) => refuseEmptyValues(action));
  const json = argv.includes("--json");
  try {
    cliState.exitCode = 0;
    cliState.words = argv;
    await program.parseAsync(argv, { from: "user" });
    return cliState.exitCode;
  } catch (e) {
    return renderError(e, json, argv[0]);
  }
}

/** Verbs that hand words after `--` to a program. */
const GUEST_VERBS = new Set(["run", "launch"]);

function renderError(e: unknown, json: boolean, verb?: string): number {
  if (e instanceof CommanderError) {
    // --help and --version land here with status 0; a verb called without its sub-verb printed its help.
    if (e.exitCode === 0) return 0;
    if (e.code === "commander.help") return 2;
    const guest = e.code === "commander.unknownOption" && GUEST_VERBS.has(verb ?? "");
    const err = new KilnError(
      "KILN_EUSAGE",
      e.message.replace(/^error: /, ""),
      guest
        ? "kiln's options go before --, the program's after it: kiln launch qemu IMAGE -- --its-option (see kiln VERB --help)."
        : "Run `kiln --help` or `kiln VERB --help`.",
      { kind: "usage" },
    );
    return renderError(err, json);
  }
  if (isKilnError(e)) {
    if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
    else process.stderr.write(`kiln: error ${e.code}: ${e.message}\n  hint: ${e.hint}\n`);
    return e.exitCode;
  }
  // Last line of defence: a file system fault nobody mapped still names its path and says what it is.
  const mapped = fsError(e);
  if (isKilnError(mapped)) return renderError(mapped, json);
  const msg = e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(
    `kiln: internal error (KILN_EINTERNAL): ${msg}\n  hint: this is a bug in kiln; please report it with the command you ran.\n`,
  );
  return 1;
}

/**
 * An option that takes a value never takes an empty one: `--fail-on ''` would otherwise read as "not given"
 * wherever a verb tests the value for truth, and quietly do nothing. Checked once here for every verb.
 */
function refuseEmptyValues(cmd: Command): void {
  for (const o of cmd.options) {
    if (!o.required && !o.optional) continue;
    const v: unknown = cmd.getOptionValue(o.attributeName());
    const values = Array.isArray(v) ? v : [v];
    if (values.some((x) => typeof x === "string" && x.trim() === "")) {
      const flag = o.long ?? o.short ?? o.flags;
      throw usageError(
        "KILN_EOPTION_EMPTY",
        `Cannot use an empty value for ${flag}`,
        `Give ${flag} a value (see kiln ${cmd.parent?.name() === "kiln" ? "" : `${cmd.parent?.name()} `}${cmd.name()} --help), or leave the option out.`,
      );
    }
  }
}

function quietErrors(c: Command): void {
  c.exitOverride().configureOutput({ outputError: () => {} });
  for (const sub of c.commands) quietErrors(sub);
}
