import type { Command } from "commander";
import { type CommonOpts, cliState, report, withCommon } from "../context.js";

export function register(program: Command): void {
  withCommon(
    program
      .command("verify")
      .description("bake an image again from its own parts and recorded inputs, and compare the bytes")
      .argument("<image>", "image directory written by kiln bake")
      .addHelpText("after", "\nExample:\n  kiln verify out/hello && echo reproducible"),
  ).action(async (image: string, opts: CommonOpts) => {
    const { verifyImage } = await import("../../bake/verifyImage.js");
    const r = await verifyImage(image);
    report(opts, r, (d) =>
      d.same
        ? `${d.image}: the same bytes again (kernel ${d.recorded.kernel.slice(0, 12)}, initrd ${d.recorded.initrd.slice(0, 12)})`
        : [
            `${d.image}: differs from a new bake of its inputs:`,
            ...d.differences.map((x) => `  ${JSON.stringify(x)}`),
          ].join("\n"),
    );
    cliState.exitCode = r.same ? 0 : 1;
  });
}
