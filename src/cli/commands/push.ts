import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { type CommonOpts, progressFor, report, withCommon } from "../context.js";
import { type RegistryTimeoutOpts, registryTimeouts, withRegistryTimeouts } from "../registryOptions.js";

interface PushCliOpts extends CommonOpts, RegistryTimeoutOpts {
  format?: string;
  insecure?: boolean;
}

export function register(program: Command): void {
  withCommon(
    withRegistryTimeouts(
      program
        .command("push")
        .description("push an image (as an OCI artifact or a KubeVirt containerDisk) to an OCI registry")
        .argument(
          "<image>",
          "a baked image directory, or an oci-archive made by `kiln image oci|containerdisk`",
        )
        .argument("<ref>", "where to: HOST[:PORT]/REPOSITORY[:TAG] (default tag latest)")
        .option("--format <format>", "for an image directory: oci (kiln artifact, default) or containerdisk")
        .option("--insecure", "plain http to this registry (loopback hosts use http anyway)")
        .addHelpText(
          "after",
          "\nCredentials come from $DOCKER_CONFIG/config.json or ~/.docker/config.json (what `docker login` writes).\n\nExamples:\n  kiln push out/hello 127.0.0.1:5000/hello:1.0\n  kiln push --format containerdisk out/hello registry.example.com/vms/hello:1.0\n  kiln push hello.oci.tar 127.0.0.1:5000/hello",
        ),
    ),
  ).action(async (image: string, ref: string, opts: PushCliOpts) => {
    if (opts.format !== undefined && opts.format !== "oci" && opts.format !== "containerdisk") {
      throw usageError(
        "KILN_EPUSH_FORMAT",
        `Cannot push format "${opts.format}"`,
        "Use --format oci or --format containerdisk.",
      );
    }
    const { pushImage } = await import("../../image/ociPush.js");
    const r = await pushImage(image, ref, {
      ...(opts.format ? { format: opts.format as "oci" | "containerdisk" } : {}),
      ...(opts.insecure ? { insecure: true } : {}),
      ...registryTimeouts(opts),
      progress: await progressFor(opts),
    });
    report(opts, r, (x) => {
      const up = x.blobs.filter((b) => b.uploaded).length;
      return [
        `pushed ${x.ref}`,
        `  digest ${x.digest}`,
        ...(x.indexDigest ? [`  index  ${x.indexDigest}`] : []),
        `  blobs  ${up} uploaded, ${x.blobs.length - up} already there (${x.bytesUploaded} bytes sent)`,
      ].join("\n");
    });
  });
}
