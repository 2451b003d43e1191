import type { Command } from "commander";
import { q, usageError } from "../core/errors.js";

/**
 * Where kiln's words end and the program's begin, for `kiln launch` and `kiln run`: kiln's options go anywhere
 * before `--` (before or after IMAGE), and only the words after `--` go to the program, so a misplaced
 * `--dry-run` is kiln's, never the guest's. Commander drops the `--` from what it hands the action; the split
 * is found here, in the words the command was given, skipping option values (`--name --` names a machine "--").
 */
const afterDashDash = new WeakMap<Command, string[] | undefined>();

export function separateGuestArgs(cmd: Command): Command {
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]) => {
    afterDashDash.set(cmd, wordsAfterDashDash(cmd, args));
    return parse(args);
  };
  return cmd;
}

function wordsAfterDashDash(cmd: Command, args: string[]): string[] | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return args.slice(i + 1);
    const opt = cmd.options.find((o) => o.long === args[i] || o.short === args[i]);
    if (opt?.required || (opt?.optional && !args[i + 1]?.startsWith("-"))) i++;
  }
  return undefined;
}

/**
 * The program's arguments: the words after `--`, undefined without `--` (the image's own then). `target` and
 * `rest` are what commander gave the action; any word before `--` but the target is refused.
 */
export function guestArgs(cmd: Command, target: string, rest: string[]): string[] | undefined {
  const words = afterDashDash.get(cmd);
  const before = 1 + rest.length - (words?.length ?? 0);
  const verb = cmd.parent?.name() === "launch" ? `kiln launch ${cmd.name()}` : `kiln ${cmd.name()}`;
  if (before < 1) {
    throw usageError(
      "KILN_EUSAGE",
      `Cannot find what to ${cmd.name() === "run" ? "run" : "launch"}: ${q(target)} comes after --, where the program's arguments go`,
      `Name it before --: ${verb} [options] ${q(target)} -- ARGS.`,
    );
  }
  if (before > 1) {
    const stray = rest.slice(0, before - 1);
    throw usageError(
      "KILN_EARGS_PLACE",
      `Cannot pass ${q(stray.join(" "))} to the program: arguments for the program go after --`,
      `Write ${verb} [options] ${target} -- ${stray.join(" ")} (kiln's options may go before or after ${target}).`,
    );
  }
  return words;
}
