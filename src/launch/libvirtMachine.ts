/**
 * What kiln keeps about one libvirt machine, in its state directory (libvirt.json): the connection, the
 * domain and kiln's mark on it, the volumes it boots from and the console volume. The driver writes it when
 * it plans; the domain is made from it (libvirt.ts create), the console follower reads it
 * (libvirtFollow.ts), and stop checks the mark against it before it touches the domain.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { KilnError, q } from "../core/errors.js";
import { type DomainXmlInput, KILN_LIBVIRT_NS, type KilnMark } from "./libvirtDomain.js";
import type { Virsh } from "./virsh.js";

export const LIBVIRT_FILE = "libvirt.json";
export const DOMAIN_XML = "domain.xml";

export interface LibvirtMachine {
  uri: string;
  domain: string;
  mark: KilnMark;
  /** Local files that travel to the host's pool as these volumes; `own` ones go with the machine. */
  uploads: { file: string; volume: string; own: boolean }[];
  kernelVolume: string;
  initrdVolume: string;
  consoleVolume: string;
  /** The console volume's path on the host, once the pool is known (create). */
  consolePath?: string;
  /** The domain, with the boot files and console still to be placed in the pool's directory. */
  domainInput: Omit<DomainXmlInput, "kernel" | "initrd" | "console">;
  /** Whether the URI is this host's libvirt (its console file may be read directly). */
  local: boolean;
}

export async function readLibvirtMachine(dir: string): Promise<LibvirtMachine> {
  return JSON.parse(await readFile(join(dir, LIBVIRT_FILE), "utf8")) as LibvirtMachine;
}

/** A domain of that name, and kiln's mark on it when it has one. */
export type DomainFound = { exists: false } | { exists: true; mark?: KilnMark; running: boolean };

export async function findDomain(v: Virsh, domain: string): Promise<DomainFound> {
  const r = await v.batch([
    ["domstate", domain],
    ["metadata", domain, "--uri", KILN_LIBVIRT_NS],
  ]);
  const [state = "", md = ""] = r.outputs;
  if (!state.trim()) return { exists: false };
  const running = !/shut off/.test(state);
  const attr = (n: string) => new RegExp(`\\b${n}=["']([^"']*)["']`).exec(md)?.[1];
  const machine = attr("name");
  const id = attr("id");
  if (machine === undefined || id === undefined) return { exists: true, running };
  return { exists: true, running, mark: { machine, id, image: attr("image") ?? "" } };
}

/** The refusal for a domain kiln did not make (or another kiln launch made): it is left as it is. */
export function notOursError(uri: string, domain: string, why: string): KilnError {
  return new KilnError(
    "KILN_ELIBVIRT_NOT_OURS",
    `Domain ${q(domain)} at ${q(uri)} ${why}; kiln leaves it alone`,
    `kiln only touches domains that carry its mark (virsh -c ${uri} metadata ${domain} --uri ${KILN_LIBVIRT_NS}); choose another --name, or manage that domain with virsh.`,
    { kind: "usage" },
  );
}

/** kiln's domains that run at `uri` (those with its mark; any other domain is not kiln's to show). */
export async function kilnDomains(v: Virsh): Promise<{ domain: string; mark: KilnMark }[]> {
  const names = (await v.run(["list", "--name"]))
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return [];
  const r = await v.batch(names.map((n) => ["metadata", n, "--uri", KILN_LIBVIRT_NS]));
  const out: { domain: string; mark: KilnMark }[] = [];
  names.forEach((domain, i) => {
    const md = r.outputs[i] ?? "";
    const attr = (n: string) => new RegExp(`\\b${n}=["']([^"']*)["']`).exec(md)?.[1];
    const machine = attr("name");
    const id = attr("id");
    if (machine !== undefined && id !== undefined)
      out.push({ domain, mark: { machine, id, image: attr("image") ?? "" } });
  });
  return out;
}
