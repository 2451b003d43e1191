/**
 * Everything a platform needs from Debian before a stock bake: its kernel flavour and its hypervisor, each
 * fetched only when the store lacks it (or with `force`). `kiln components fetch --platform P` and
 * `kiln run` use it; `digests` is what a bake of that platform depends on, for run's cache key.
 */
import type { Progress } from "../core/progress.js";
import { loadCatalogue, platformFlavour } from "./catalogue.js";
import type { KernelFlavour } from "./flavour.js";

export interface PlatformFetch {
  platform: string;
  flavour: KernelFlavour;
  kernel: { package: string; version: string; sha256: string; fetched: boolean };
  hypervisor?: { name: string; package: string; version: string; sha256: string; fetched: boolean };
}

export async function fetchPlatformComponents(
  platform: string,
  opts: {
    catalogues?: string[];
    env?: NodeJS.ProcessEnv;
    force?: boolean;
    /** Only what is missing: no apt query when the store has a kernel and hypervisor already. */
    ifMissing?: boolean;
    progress?: Progress;
  } = {},
): Promise<PlatformFetch> {
  const cat = await loadCatalogue({ extraFiles: opts.catalogues, env: opts.env });
  const flavour = platformFlavour(cat, platform);
  const h = cat.platforms.get(platform)?.hypervisor;
  const { readPointer } = await import("./stockKernel.js");
  let pointer = opts.ifMissing ? await readPointer(opts.env, flavour) : undefined;
  let kernelFetched = false;
  if (!pointer) {
    const { fetchStockKernel } = await import("./fetchKernel.js");
    const r = await fetchStockKernel({
      flavour,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.force ? { force: true } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    kernelFetched = r.fetched;
    pointer = await readPointer(opts.env, flavour);
  }
  const result: PlatformFetch = {
    platform,
    flavour,
    kernel: {
      package: pointer!.package,
      version: pointer!.version,
      sha256: pointer!.sha256,
      fetched: kernelFetched,
    },
  };
  if (h) {
    const { fetchHypervisor, loadHypervisor } = await import("./hypervisor.js");
    const have = opts.ifMissing
      ? await loadHypervisor(h, platform, opts.env).catch(() => undefined)
      : undefined;
    const r = have
      ? { fetched: false, hypervisor: have }
      : await fetchHypervisor(h, platform, {
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.force ? { force: true } : {}),
          ...(opts.progress ? { progress: opts.progress } : {}),
        });
    result.hypervisor = {
      name: h.name,
      package: r.hypervisor.package,
      version: r.hypervisor.version,
      sha256: r.hypervisor.sha256,
      fetched: r.fetched,
    };
  }
  return result;
}
