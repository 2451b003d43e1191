import type { Command } from "commander";
import { type CommonOpts, progressFor, report, withCommon } from "../context.js";
import { type RegistryTimeoutOpts, registryTimeouts, withRegistryTimeouts } from "../registryOptions.js";

interface PullCliOpts extends CommonOpts, RegistryTimeoutOpts {
  archive?: boolean;
  insecure?: boolean;
  force?: boolean;
}

export function register(program: Command): void {
  withCommon(
    withRegistryTimeouts(
      program
        .command("pull")
        .description("pull a kiln image from an OCI registry into an image directory (digests verified)")
        .argument("<ref>", "HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST]")
        .argument("<out>", "image directory to write (or, with --archive, an oci-archive file)")
        .option(
          "--archive",
          "write any image (containerdisk, container image) as an oci-archive file instead",
        )
        .option("--insecure", "plain http to this registry (loopback hosts use http anyway)")
        .option("--force", "replace what is at OUT even if kiln did not write it")
        .addHelpText(
          "after",
          "\nExamples:\n  kiln pull 127.0.0.1:5000/hello:1.0 out/hello\n  kiln pull --archive 127.0.0.1:5000/vms/hello:1.0 hello.containerdisk.tar",
        ),
    ),
  ).action(async (ref: string, out: string, opts: PullCliOpts) => {
    const { pullArchive, pullImage } = await import("../../image/ociPull.js");
    const o = {
      ...(opts.insecure ? { insecure: true } : {}),
      ...registryTimeouts(opts),
      ...(opts.force ? { force: true } : {}),
      progress: await progressFor(opts),
    };
    const r = opts.archive ? await pullArchive(ref, out, o) : await pullImage(ref, out, o);
    report(opts, r, (x) =>
      [
        `pulled ${x.ref} into ${x.out}`,
        `  digest ${x.digest}`,
        ...x.files.map((f) => `  ${f.name}  ${f.size} bytes`),
      ].join("\n"),
    );
  });
}
