/**
 * For bake: check a just-written image against the project's licence policy before it is moved into
 * place. Call it inside writeImageDir's fill callback, after kernel, initrd and manifest.json are written:
 * a violation throws KILN_ELICENSE_DENIED (the temporary directory is then removed, nothing lands), and with
 * `allowViolations` the override to record as `manifest.licensePolicy` is returned instead.
 */
import type { Image } from "../manifest/imageManifest.js";
import { type CollectOptions, collectParts } from "./parts.js";
import { enforcePolicy, type LicensePolicy, type PolicyOverride } from "./policy.js";

export async function checkImagePolicy(
  image: Image,
  policy: LicensePolicy,
  opts: CollectOptions & { allowViolations?: boolean } = {},
): Promise<PolicyOverride | undefined> {
  const parts = await collectParts(image, opts);
  return enforcePolicy(parts.parts, policy, { allowViolations: opts.allowViolations });
}
