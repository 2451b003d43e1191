/**
 * libvirt through its own client, virsh(1), against one connection URI. kiln never reads or writes libvirt's
 * state directories: every fact and every change goes through the URI, so a remote host (qemu+ssh://) is
 * handled exactly like this one. What virsh says about a connection that cannot be made becomes a KilnError
 * a user can act on.
 */
import { KilnError, q } from "../core/errors.js";
import { type ExecResult, exec } from "../core/exec.js";
import { sshEndpoint, tcpFailure } from "./sshReach.js";

export const DEFAULT_LIBVIRT_URI = "qemu:///system";

/** virsh itself, overridable (KILN_VIRSH) as QEMU's binary is. */
export function virshBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.KILN_VIRSH || "virsh";
}

/** The connection-level failures virsh reports, as KilnErrors; undefined for anything else. */
export function connectionError(uri: string, stderr: string, network?: string): KilnError | undefined {
  const said = stderr
    .split("\n")
    .map((l) => l.replace(/^error: /, "").trim())
    .filter((l) => l && l !== "failed to connect to the hypervisor")
    .join("; ");
  if (/no connection driver available/i.test(stderr)) {
    return new KilnError(
      "KILN_ELIBVIRT_NO_QEMU",
      `libvirt at ${q(uri)} cannot run QEMU machines: ${said}`,
      "Install libvirt's QEMU driver on that host (apt-get install libvirt-daemon-driver-qemu) and restart libvirtd, or --connect to a host that has it.",
    );
  }
  if (
    /failed to connect to the hypervisor|Failed to connect socket|Cannot recv data|unable to connect/i.test(
      stderr,
    )
  ) {
    return new KilnError(
      "KILN_ELIBVIRT_UNREACHABLE",
      `Cannot reach libvirt at ${q(uri)}: ${said}${network ? ` (${network})` : ""}`,
      uri.includes("+ssh")
        ? "Check that the host answers ssh with a key (no password prompt: kiln runs virsh without a terminal) and runs libvirtd."
        : "Start libvirtd (and virtlogd) on this host, or --connect to a URI where one runs (virsh -c URI list tells).",
    );
  }
  return undefined;
}

export interface Virsh {
  readonly uri: string;
  /** Run a virsh command; a failure is a KilnError naming it (or the connection's own error). */
  run(args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<string>;
  /** Run it and hand back what happened, failures included (connection failures still throw). */
  try(args: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /**
   * Several commands over one connection (one virsh, so one ssh login for a remote URI: about 0.5 s each
   * here). virsh goes on after a failing command; each command's stdout comes back in order, and one
   * that failed gives "" (its message goes to stderr, which is returned whole).
   */
  batch(commands: string[][], opts?: { timeoutMs?: number }): Promise<{ outputs: string[]; stderr: string }>;
}

/** An argument as virsh's own command parser reads it: double quotes, with `\` and `"` escaped. */
export function virshQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)
    ? arg
    : `"${arg.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

export function virsh(uri: string, env: NodeJS.ProcessEnv = process.env): Virsh {
  const bin = virshBinary(env);
  const attempt = async (args: string[], opts: { timeoutMs?: number; input?: string } = {}) => {
    const r = await exec(bin, ["-q", "-c", uri, ...args], {
      check: false,
      env,
      timeoutMs: opts.timeoutMs ?? 120_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    }).catch((e: unknown) => {
      if (e instanceof KilnError && e.code === "KILN_ETOOL_MISSING") {
        throw new KilnError(
          "KILN_EBACKEND_UNAVAILABLE",
          `libvirt's client ${q(bin)} was not found`,
          "Install it: apt-get install libvirt-clients (and libvirt-daemon-driver-qemu where the machines run).",
        );
      }
      throw e;
    });
    if (r.code !== 0) {
      const conn = connectionError(uri, r.stderr);
      if (conn?.code === "KILN_ELIBVIRT_UNREACHABLE") {
        const ssh = sshEndpoint(uri);
        const why = ssh && (await tcpFailure(ssh.host, ssh.port));
        if (ssh && why) throw connectionError(uri, r.stderr, `ssh to ${ssh.host} port ${ssh.port}: ${why}`);
      }
      if (conn) throw conn;
    }
    return r;
  };
  return {
    uri,
    try: attempt,
    async batch(commands, opts) {
      const mark = (n: number) => `@@kiln-${n}@@`;
      const script = commands.map((c, n) => `${c.map(virshQuote).join(" ")}; echo ${mark(n)}`).join("; ");
      const r = await attempt([script], opts);
      const outputs: string[] = [];
      let rest = r.stdout;
      for (let n = 0; n < commands.length; n++) {
        // virsh's echo ends its line only when it is the last command.
        const at = rest.indexOf(mark(n));
        if (at < 0) {
          outputs.push("");
          continue;
        }
        outputs.push(rest.slice(0, at));
        rest = rest.slice(at + mark(n).length).replace(/^\n/, "");
      }
      return { outputs, stderr: r.stderr };
    },
    async run(args, opts) {
      const r = await attempt(args, opts);
      if (r.code !== 0) {
        const said = r.stderr
          .trim()
          .replace(/^error: /gm, "")
          .split("\n")
          .slice(-4)
          .join("; ");
        throw new KilnError(
          "KILN_ELIBVIRT_FAILED",
          `virsh ${args[0]} at ${q(uri)} failed (status ${r.code}): ${said}`,
          `Read libvirt's message; \`virsh -c ${uri} ${args.join(" ")}\` reproduces it.`,
        );
      }
      return r.stdout;
    },
  };
}

/** Whether a URI names this host's libvirt (no host part), whose files kiln could read directly. */
export function isLocalUri(uri: string): boolean {
  const m = /^[a-z0-9+]+:\/\/([^/]*)\//i.exec(uri);
  return m !== null && m[1] === "" && !/\+(ssh|tcp|tls|libssh2?)/i.test(uri.split(":")[0] ?? "");
}
