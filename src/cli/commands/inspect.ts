import type { Command } from "commander";
import type { ProgramDescription } from "../../toolchain/describeProgram.js";
import { type CommonOpts, report, table, withCommon } from "../context.js";

export function register(program: Command): void {
  withCommon(program.command("inspect"))
    .description("show what a program (ELF file) or an image directory is made of")
    .argument("<path>", "a compiled program, or an image directory (holding manifest.json)")
    .addHelpText("after", "\nExample:\n  kiln inspect ./hello\n  kiln inspect --json /bin/ls")
    .action(async (path: string, opts: CommonOpts) => {
      const { existsSync } = await import("node:fs");
      const { join } = await import("node:path");
      if (existsSync(join(path, "manifest.json"))) {
        const { inspectImage } = await import("../../bake/inspectImage.js");
        report(opts, await inspectImage(path), (d) => renderGeneric(d));
        return;
      }
      const { describeProgram } = await import("../../toolchain/describeProgram.js");
      report(opts, await describeProgram(path), renderProgram);
    });
}

function renderProgram(d: ProgramDescription): string {
  const rows: string[][] = [
    ["program", d.path],
    [
      "format",
      `${d.class} ${d.endian}-endian ${d.machine}, ${d.type}${d.pie ? " (position-independent)" : ""}`,
    ],
    ["linking", d.linking],
  ];
  if (d.interp) rows.push(["interp", d.interp]);
  if (d.needed.length) rows.push(["needed", d.needed.join(", ")]);
  if (d.soname) rows.push(["soname", d.soname]);
  if (d.rpath.length) rows.push(["rpath", d.rpath.join(":")]);
  if (d.runpath.length) rows.push(["runpath", d.runpath.join(":")]);
  rows.push(["entry", `0x${d.entry.toString(16)}`], ["size", `${d.size} bytes`]);
  if (d.kiln) {
    rows.push(["tuple", d.kiln.tuple], ["libc", d.kiln.libc], ["toolchain", d.kiln.toolchain]);
    if (d.kiln.cxx) rows.push(["c++ runtime", d.kiln.cxx]);
  } else rows.push(["kiln note", "none (not made by the kiln toolchain)"]);
  return table(rows);
}

/** Key-value rendering for data whose shape this file does not know (image descriptions). */
export function renderGeneric(data: unknown, indent = ""): string {
  if (data === null || typeof data !== "object") return `${indent}${String(data)}`;
  const lines: string[] = [];
  const entries = Array.isArray(data) ? data.map((v, i) => [`[${i}]`, v] as const) : Object.entries(data);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  for (const [k, v] of entries) {
    if (v !== null && typeof v === "object") {
      const scalars = Array.isArray(v) && v.every((x) => x === null || typeof x !== "object");
      if (scalars) lines.push(`${indent}${k.padEnd(width)}  ${(v as unknown[]).join(", ")}`);
      else lines.push(`${indent}${k}`, renderGeneric(v, `${indent}  `));
    } else lines.push(`${indent}${k.padEnd(width)}  ${String(v)}`);
  }
  return lines.join("\n");
}
