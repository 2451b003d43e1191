/**
 * The users and groups an image has, and the /etc/passwd and /etc/group that say so. An image's own files
 * (from --add or a recipe) are taken as they are; else the accounts its Debian packages would make (Debian's
 * static ones plus the maintainer scripts'), written as files; else none are written and kiln-init makes
 * root and nobody at boot. The manifest records the table, so that `-u NAME` resolves at launch without
 * reading the initrd.
 */
import {
  type Accounts,
  type Group,
  initAccounts,
  parseGroup,
  parsePasswd,
  renderGroup,
  renderPasswd,
  type User,
} from "../manifest/accounts.js";

export interface ImageAccounts {
  accounts: Accounts;
  /** Files to write (when the accounts come from packages). */
  files: { dest: string; data: Buffer; mode: number }[];
  /** Whether the image says who its users are (its own or generated files); false: kiln-init's defaults. */
  recorded: boolean;
}

export function imageAccounts(
  inputs: readonly { accounts?: Accounts }[],
  present: readonly { dest: string; data?: Buffer }[],
): ImageAccounts {
  const passwd = present.find((f) => f.dest === "/etc/passwd" && f.data);
  if (passwd) {
    const group = present.find((f) => f.dest === "/etc/group" && f.data);
    return {
      accounts: {
        users: parsePasswd(passwd.data!.toString("utf8")),
        groups: group ? parseGroup(group.data!.toString("utf8")) : [],
      },
      files: [],
      recorded: true,
    };
  }
  const users: User[] = [];
  const groups: Group[] = [];
  for (const i of inputs) {
    for (const u of i.accounts?.users ?? []) if (!users.some((x) => x.name === u.name)) users.push(u);
    for (const g of i.accounts?.groups ?? []) if (!groups.some((x) => x.name === g.name)) groups.push(g);
  }
  if (users.length === 0) return { accounts: initAccounts(), files: [], recorded: false };
  const accounts = { users, groups };
  return {
    accounts,
    files: [
      { dest: "/etc/passwd", data: Buffer.from(renderPasswd(accounts)), mode: 0o644 },
      { dest: "/etc/group", data: Buffer.from(renderGroup(accounts)), mode: 0o644 },
    ],
    recorded: true,
  };
}
