// An sshd of a test's own on loopback (Debian's openssh-server), with throwaway host and client keys, so
// that a libvirt URI can go through ssh for real: qemu+ssh://root@127.0.0.1:PORT/system. It logs in root
// by that key only, and stops with stop().
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, poll } from "../helpers.js";

export interface Sshd {
  port: number;
  /** The client's private key, for libvirt's keyfile= URI parameter. */
  key: string;
  /** A libvirt URI through this sshd to the local libvirtd. */
  uri: string;
  stop(): void;
}

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "kiln-sshd-"));
  const key = join(dir, "client_key");
  const hostKey = join(dir, "host_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
  const auth = join(dir, "authorized_keys");
  copyFileSync(`${key}.pub`, auth);
  chmodSync(auth, 0o600);
  const port = await freePort();
  const cfg = join(dir, "sshd_config");
  writeFileSync(
    cfg,
    [
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${auth}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      // The keys sit in a temporary directory, which StrictModes would judge by /tmp's sticky bit.
      "StrictModes no",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // its privilege separation directory
  const child: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", cfg, "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (b: string) => (err += b));
  await poll(
    `sshd on 127.0.0.1:${port}`,
    () =>
      new Promise<true | undefined>((res, rej) => {
        if (child.exitCode !== null) rej(new Error(`sshd exited: ${err}`));
        const s = connect(port, "127.0.0.1", () => {
          s.destroy();
          res(true);
        });
        s.on("error", () => res(undefined));
      }),
    { timeoutMs: 15_000 },
  );
  return {
    port,
    key,
    uri: `qemu+ssh://root@127.0.0.1:${port}/system?keyfile=${key}&no_verify=1`,
    stop() {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
