/**
 * An image's users and groups: what /etc/passwd and /etc/group say, and how `-u NAME` and a recipe's
 * `user` find a uid and gid. Debian's static accounts (base-passwd's masters, the ids Debian policy 9.2.2
 * fixes) come first; the system accounts a package's maintainer scripts would make follow
 * (maintainerAccounts.ts).
 */
import { q, usageError } from "../core/errors.js";

export interface User {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export interface Group {
  name: string;
  gid: number;
  members: string[];
}

export interface Accounts {
  users: User[];
  groups: Group[];
}

// base-passwd 3.6.1 (Debian 12): /usr/share/base-passwd/passwd.master and group.master.
const BASE_PASSWD = `root:*:0:0:root:/root:/bin/bash
daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:*:2:2:bin:/bin:/usr/sbin/nologin
sys:*:3:3:sys:/dev:/usr/sbin/nologin
sync:*:4:65534:sync:/bin:/bin/sync
games:*:5:60:games:/usr/games:/usr/sbin/nologin
man:*:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:*:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:*:8:8:mail:/var/mail:/usr/sbin/nologin
news:*:9:9:news:/var/spool/news:/usr/sbin/nologin
uucp:*:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
proxy:*:13:13:proxy:/bin:/usr/sbin/nologin
www-data:*:33:33:www-data:/var/www:/usr/sbin/nologin
backup:*:34:34:backup:/var/backups:/usr/sbin/nologin
list:*:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:*:39:39:ircd:/run/ircd:/usr/sbin/nologin
_apt:*:42:65534::/nonexistent:/usr/sbin/nologin
nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const BASE_GROUP = `root:*:0:
daemon:*:1:
bin:*:2:
sys:*:3:
adm:*:4:
tty:*:5:
disk:*:6:
lp:*:7:
mail:*:8:
news:*:9:
uucp:*:10:
man:*:12:
proxy:*:13:
kmem:*:15:
dialout:*:20:
fax:*:21:
voice:*:22:
cdrom:*:24:
floppy:*:25:
tape:*:26:
sudo:*:27:
audio:*:29:
dip:*:30:
www-data:*:33:
backup:*:34:
operator:*:37:
list:*:38:
irc:*:39:
src:*:40:
shadow:*:42:
utmp:*:43:
video:*:44:
sasl:*:45:
plugdev:*:46:
staff:*:50:
games:*:60:
users:*:100:
nogroup:*:65534:
`;

export function baseAccounts(): Accounts {
  return { users: parsePasswd(BASE_PASSWD), groups: parseGroup(BASE_GROUP) };
}

/** What kiln-init writes at boot into an image that has no /etc/passwd (guest/init.c posix_root). */
export function initAccounts(): Accounts {
  const base = baseAccounts();
  return {
    users: base.users.filter((u) => u.name === "root" || u.name === "nobody"),
    groups: base.groups.filter((g) => g.name === "root" || g.name === "nogroup"),
  };
}

/** Lines that do not have passwd(5)'s seven fields with numeric ids are skipped, as getpwnam skips them. */
export function parsePasswd(text: string): User[] {
  const out: User[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length !== 7 || !f[0] || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), gecos: f[4]!, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function parseGroup(text: string): Group[] {
  const out: Group[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length !== 4 || !f[0] || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: f[3] ? f[3].split(",") : [] });
  }
  return out;
}

export function renderPasswd(a: Accounts): string {
  return a.users.map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.gecos}:${u.home}:${u.shell}\n`).join("");
}

export function renderGroup(a: Accounts): string {
  return a.groups.map((g) => `${g.name}:x:${g.gid}:${g.members.join(",")}\n`).join("");
}

/**
 * `-u NAME|UID[:GROUP|GID]` against an image's users: a name must be one of them; a bare number need not
 * be (a uid with no passwd entry runs with its own number as gid, as `setpriv --reuid N` would).
 */
export function resolveUser(
  spec: string,
  users: readonly { name: string; uid: number; gid: number }[],
  groups: readonly { name: string; gid: number }[] = [],
): { uid: number; gid: number; name?: string } {
  const [who, grp, ...more] = spec.split(":");
  const id = (s: string) => (/^\d+$/.test(s) && Number(s) <= 4294967294 ? Number(s) : undefined);
  const known = users
    .map((u) => u.name)
    .slice(0, 20)
    .join(", ");
  if (!who || more.length || grp === "")
    throw usageError(
      "KILN_EUSER",
      `Cannot run as ${q(spec)}: write a user name or uid, optionally with :GROUP or :GID`,
      `The image's users: ${known}.`,
    );
  const byName = users.find((u) => u.name === who);
  const uid = byName?.uid ?? id(who);
  if (uid === undefined)
    throw usageError(
      "KILN_EUSER",
      `The image has no user ${q(who)}`,
      `Its users: ${known}. Name one of them, give a number (-u 1000), or add an /etc/passwd with --add.`,
    );
  let gid = byName?.gid ?? users.find((u) => u.uid === uid)?.gid ?? uid;
  if (grp !== undefined) {
    const g = groups.find((x) => x.name === grp)?.gid ?? id(grp);
    if (g === undefined)
      throw usageError(
        "KILN_EUSER",
        `The image has no group ${q(grp)} (in ${q(spec)})`,
        `Its groups: ${groups
          .map((x) => x.name)
          .slice(0, 20)
          .join(", ")}. Name one of them, or give a number.`,
      );
    gid = g;
  }
  return { uid, gid, ...(byName ? { name: byName.name } : {}) };
}
