/**
 * The system users and groups a package's maintainer scripts would make (memcached's `memcache`,
 * postgresql-common's `postgres`, dnsmasq-base's `dnsmasq`), read from the scripts instead of running them:
 * the adduser, addgroup, useradd and groupadd commands, with the plain `VAR=value` assignments the scripts
 * use for names expanded. Ids are given as adduser gives them to system accounts: the lowest free from 100
 * up, in a fixed order (packages by name, preinst before postinst), so the same packages give the same ids.
 * A command whose name still holds a `$` after expansion is not understood and is left out.
 */
import type { Accounts, Group, User } from "../manifest/accounts.js";

export interface MaintainerScript {
  /** The package the script belongs to (for ordering). */
  pkg: string;
  /** preinst or postinst. */
  name: string;
  text: string;
}

interface Command {
  tool: "adduser" | "addgroup" | "useradd" | "groupadd";
  opts: Map<string, string | true>;
  args: string[];
}

// Options that take a value, by tool (long and short spellings).
const VALUED: Record<Command["tool"], readonly string[]> = {
  adduser: [
    "--home",
    "--shell",
    "--ingroup",
    "--gid",
    "--uid",
    "--gecos",
    "--comment",
    "--firstuid",
    "--lastuid",
    "--firstgid",
    "--lastgid",
    "--conf",
    "--add-extra-groups",
    "--add_extra_groups",
  ],
  addgroup: ["--gid", "--conf"],
  useradd: [
    "-d",
    "--home-dir",
    "-s",
    "--shell",
    "-g",
    "--gid",
    "-u",
    "--uid",
    "-c",
    "--comment",
    "-G",
    "--groups",
    "-K",
    "--key",
    "-b",
    "--base-dir",
    "-e",
    "--expiredate",
    "-f",
    "--inactive",
    "-k",
    "--skel",
    "-p",
    "--password",
    "-R",
    "--root",
    "-P",
    "--prefix",
    "-Z",
    "--selinux-user",
  ],
  groupadd: ["-g", "--gid", "-K", "--key", "-p", "--password", "-R", "--root", "-P", "--prefix"],
};

/** Words of one shell line: quotes removed, $VAR and ${VAR} expanded from `vars`. */
function words(line: string, vars: Map<string, string>): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"]+)/g;
  let cur = "";
  let last = -1;
  const expand = (s: string) =>
    s.replace(
      /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (all, a, b) => vars.get(a ?? b) ?? all,
    );
  for (const m of line.matchAll(re)) {
    const piece = m[1] ?? expand((m[2] ?? m[3])!.replace(/\\(.)/g, "$1"));
    // Adjacent pieces without space between them are one word ("--home=$DIR", 'a'"b").
    if (m.index === last) cur += piece;
    else {
      if (last >= 0) out.push(cur);
      cur = piece;
    }
    last = m.index! + m[0].length;
  }
  if (last >= 0) out.push(cur);
  return out;
}

function commands(text: string): Command[] {
  const vars = new Map<string, string>();
  const out: Command[] = [];
  const joined = text.replace(/\\\n/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.replace(/(^|\s)#.*$/, "");
    for (const part of line.split(/;|&&|\|\||\||\bthen\b|\bdo\b|\belse\b/)) {
      const a = /^\s*([A-Za-z_][A-Za-z0-9_]*)=("([^"$`]*)"|'([^']*)'|([^\s;"'$`]*))\s*$/.exec(part);
      if (a) {
        vars.set(a[1]!, a[3] ?? a[4] ?? a[5] ?? "");
        continue;
      }
      const w = words(part, vars);
      const at = w.findIndex((x) =>
        /^(\/usr\/s?bin\/|\/s?bin\/)?(adduser|addgroup|useradd|groupadd)$/.test(x),
      );
      if (at < 0) continue;
      const tool = w[at]!.replace(/^.*\//, "") as Command["tool"];
      const opts = new Map<string, string | true>();
      const args: string[] = [];
      for (let i = at + 1; i < w.length; i++) {
        const x = w[i]!;
        if (x === ">" || x.startsWith(">") || x.startsWith("2>") || x === "<") break;
        if (x.startsWith("-") && x !== "-") {
          const eq = x.indexOf("=");
          if (eq > 0) opts.set(x.slice(0, eq), x.slice(eq + 1));
          else if (VALUED[tool].includes(x)) opts.set(x, w[++i] ?? "");
          else opts.set(x, true);
        } else args.push(x);
      }
      out.push({ tool, opts, args });
    }
  }
  return out;
}

const str = (v: string | true | undefined) => (typeof v === "string" ? v : undefined);

/** `base` plus the accounts the scripts make; the base's own entries win (adduser leaves them alone). */
export function maintainerAccounts(scripts: readonly MaintainerScript[], base: Accounts): Accounts {
  const users: User[] = [...base.users];
  const groups: Group[] = base.groups.map((g) => ({ ...g, members: [...g.members] }));
  const order = { preinst: 0, postinst: 1 } as Record<string, number>;
  const sorted = [...scripts].sort((a, b) =>
    a.pkg !== b.pkg ? (a.pkg < b.pkg ? -1 : 1) : (order[a.name] ?? 2) - (order[b.name] ?? 2),
  );
  const freeId = (taken: Set<number>) => {
    for (let i = 100; i < 1000; i++) if (!taken.has(i)) return i;
    return undefined;
  };
  const group = (name: string) => groups.find((g) => g.name === name);
  const addGroup = (name: string, gid?: number): Group | undefined => {
    const have = group(name);
    if (have) return have;
    const id = gid ?? freeId(new Set(groups.map((g) => g.gid)));
    if (id === undefined) return undefined;
    const g = { name, gid: id, members: [] };
    groups.push(g);
    return g;
  };
  const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
  const ok = (s: string | undefined): s is string =>
    !!s && !s.includes("$") && /^[a-z_][a-z0-9_.-]*\$?$/i.test(s);

  for (const s of sorted) {
    for (const c of commands(s.text)) {
      const o = c.opts;
      // adduser USER GROUP and addgroup USER GROUP add a member to an existing group.
      if ((c.tool === "adduser" || c.tool === "addgroup") && c.args.length === 2) {
        const [u, g] = c.args;
        const grp = ok(g) ? group(g) : undefined;
        if (grp && ok(u) && !grp.members.includes(u)) grp.members.push(u);
        continue;
      }
      // One name makes a group (adduser --group without --system is addgroup's twin).
      if (
        c.tool === "groupadd" ||
        c.tool === "addgroup" ||
        (c.tool === "adduser" && o.has("--group") && !o.has("--system"))
      ) {
        if (c.args.length === 1 && ok(c.args[0]))
          addGroup(c.args[0], num(str(o.get("--gid") ?? o.get("-g"))));
        continue;
      }
      const name = c.args[0];
      if (c.args.length !== 1 || !ok(name) || users.some((u) => u.name === name)) continue;
      const home =
        str(o.get("--home") ?? o.get("--home-dir") ?? o.get("-d")) ??
        (c.tool === "adduser" ? `/home/${name}` : "/nonexistent");
      const shell = str(o.get("--shell") ?? o.get("-s")) ?? "/usr/sbin/nologin";
      const gecos = str(o.get("--gecos") ?? o.get("--comment") ?? o.get("-c")) ?? "";
      let gid: number | undefined;
      const inGroup = str(o.get("--ingroup") ?? o.get("--gid") ?? o.get("-g"));
      if (inGroup !== undefined) gid = num(inGroup) ?? (ok(inGroup) ? addGroup(inGroup)?.gid : undefined);
      else if (c.tool === "adduser" ? o.has("--group") : !o.has("-N") && !o.has("--no-user-group"))
        gid = addGroup(name)?.gid;
      else gid = 65534; // adduser --system without --group: nogroup
      const uid = num(str(o.get("--uid") ?? o.get("-u"))) ?? freeId(new Set(users.map((u) => u.uid)));
      if (uid === undefined || gid === undefined) continue;
      users.push({ name, uid, gid, gecos: gecos.split(",")[0] ?? "", home, shell });
    }
  }
  return { users, groups };
}
