/**
 * Which kernel a bake gets when the user names none. The specialized kernel boots hello in a fifth of the
 * stock kernel's time from a tenth of its size, so it is the default wherever one was already built for
 * exactly what the image asks of it; building one is minutes of compiling, which only
 * `kiln components build` (or an explicit `--kernel specialized`) starts.
 */
import type { SpecializedKernel } from "./specialized.js";

export type KernelKind = "stock" | "specialized";

export interface KernelChoice {
  kind: KernelKind;
  /** Whether the user named the kind (`--kernel`) or kiln chose it. */
  chosen: "given" | "default";
  /** Why, in a phrase for a person: "built for qemu (1.5 MB)", "none built for qemu". */
  reason: string;
  /** The specialized kernel's config hash, when that is the choice. */
  configHash?: string;
  /** With the stock default: whether a specialized kernel would be used had one been built. */
  couldSpecialize: boolean;
}

export async function chooseKernel(opts: {
  platform: string;
  requested?: KernelKind;
  catalogues?: string[];
  components?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<KernelChoice> {
  if (opts.requested) {
    return {
      kind: opts.requested,
      chosen: "given",
      reason: "--kernel " + opts.requested,
      couldSpecialize: false,
    };
  }
  const { resolvePlatform } = await import("./resolve.js");
  const p = await resolvePlatform(opts.platform, {
    ...(opts.catalogues ? { extraFiles: opts.catalogues } : {}),
    ...(opts.components ? { components: opts.components } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    kernel: "specialized",
  });
  const stock = (reason: string, couldSpecialize: boolean): KernelChoice => ({
    kind: "stock",
    chosen: "default",
    reason,
    couldSpecialize,
  });
  // A platform that names Debian's generic kernel (a Xen host's dom0) or carries a hypervisor is built
  // around what that kernel has; the specialized kernel is made for one image's components only.
  if (p.flavour !== "cloud") return stock(`platform ${p.platform} needs Debian's ${p.flavour} kernel`, false);
  if (p.extras.hypervisor)
    return stock(`platform ${p.platform} boots under ${p.extras.hypervisor.name}`, false);
  const { findSpecializedKernel } = await import("./specialized.js");
  const k: SpecializedKernel | undefined = await findSpecializedKernel({
    symbols: p.kconfig,
    ...(opts.env ? { env: opts.env } : {}),
  });
  if (!k) return stock(`no specialized kernel built for ${p.platform}`, true);
  // Built, but some symbol stayed off (a dependency the tinyconfig base cannot satisfy): the image would
  // lack a component it asked for.
  if (k.symbolsMissing.length > 0)
    return stock(`the specialized kernel for ${p.platform} lacks ${k.symbolsMissing.join(", ")}`, false);
  return {
    kind: "specialized",
    chosen: "default",
    reason: `built for ${p.platform} (${(k.size / 1024 / 1024).toFixed(2)} MB)`,
    configHash: k.configHash,
    couldSpecialize: true,
  };
}

/** The one line a person sees about a default choice (stderr; --json has the KernelChoice instead). */
export function kernelNotice(c: KernelChoice): string | undefined {
  if (c.chosen !== "default" || c.kind !== "specialized") return undefined;
  return `kiln: using the specialized kernel ${c.configHash?.slice(0, 12)}, ${c.reason}; --kernel stock for Debian's`;
}
