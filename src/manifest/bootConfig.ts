import { z } from "zod";

/**
 * The boot configuration kiln-init reads (guest/config.c holds the same schema). Versioned: v is 1.
 * Sources, merged key by key, later wins: /kiln/image.json (baked), `kiln.config=` on the kernel command line
 * (base64url JSON, no padding), the domain's xenstore key kiln/config under Xen (with `kiln.xs=1`; see
 * guest/README.md for its chunks), /kiln/config.json (an initrd segment the launcher appends for large configs).
 * rc entries run in array order (setup to completion, bg started and, with `ready`, awaited); main starts last.
 */
export const RcEntry = z
  .object({
    bin: z.string().startsWith("/"),
    argv: z.array(z.string()).optional(),
    mode: z.enum(["main", "bg", "setup"]).optional(),
    ready: z.string().startsWith("/").optional(),
    /** How long kiln-init waits for `ready` (a bg program only); default 30000. */
    ready_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
  })
  .strict();

export const NetEntry = z
  .object({
    if: z.string().min(1),
    addr: z
      .string()
      .regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/)
      .optional(),
    /** Address, netmask, router, DNS and MTU from a DHCP server (kiln-init's client); not with addr. */
    dhcp: z.boolean().optional(),
    gw: z
      .string()
      .regex(/^\d+\.\d+\.\d+\.\d+$/)
      .optional(),
    dns: z.array(z.string()).optional(),
    mtu: z.number().int().min(68).max(65535).optional(),
  })
  .strict();

export const BlkEntry = z
  .object({
    dev: z.string().regex(/^[a-z0-9]+$/),
    fs: z.string().min(1),
    mount: z.string().startsWith("/"),
    ro: z.boolean().optional(),
    /** 9p only: the guest caches names and data (fast; changes the host makes meanwhile may not show). */
    cache: z.boolean().optional(),
  })
  .strict();

export const BootConfig = z
  .object({
    v: z.literal(1),
    hostname: z.string().optional(),
    env: z.record(z.string(), z.string()).optional(),
    rc: z.array(RcEntry).optional(),
    net: z.array(NetEntry).optional(),
    blk: z.array(BlkEntry).optional(),
    sysctl: z.record(z.string(), z.string()).optional(),
    routes: z.array(z.object({ dst: z.string(), via: z.string() }).strict()).optional(),
    cwd: z.string().optional(),
  })
  .strict();

export type BootConfig = z.infer<typeof BootConfig>;

/** Encode a config for the kernel command line: base64url without padding, so it is one token. */
export function encodeCmdlineConfig(cfg: BootConfig): string {
  return Buffer.from(JSON.stringify(cfg)).toString("base64url");
}
