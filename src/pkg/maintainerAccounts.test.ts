import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { baseAccounts } from "../manifest/accounts.js";
import { maintainerAccounts } from "./maintainerAccounts.js";

// Shaped as Debian 12's own scripts are (trimmed): variables for names, continuation lines, conditions.
const MEMCACHED = `#!/bin/sh
set -e
GROUP="memcache"
USER="memcache"
DATADIR="/nonexistent"
case "$1" in
configure)
    if ! getent group $GROUP >/dev/null ; then
            addgroup --system $GROUP >/dev/null
    fi
    if ! getent passwd $USER >/dev/null ; then
            adduser \\
              --system \\
              --disabled-login \\
              --ingroup $GROUP \\
              --home $DATADIR \\
              --no-create-home \\
              --gecos "Memcached" \\
              --shell /bin/false \\
              $USER  >/dev/null
    fi
    ;;
esac
`;
const POSTGRES = `if [ "$1" = configure ]; then
    [ "$DPKG_MAINTSCRIPT_PACKAGE" ] && quiet="--quiet" # RedHat doesn't have this
    if ! getent passwd postgres > /dev/null; then
        adduser --system $quiet --home /var/lib/postgresql --no-create-home \\
            --shell /bin/bash --group --gecos "PostgreSQL administrator" postgres
    fi
    if ! getent group postgres > /dev/null; then
        addgroup --system $quiet postgres
    fi
    if ! id -Gn postgres | grep -qw postgres; then
        adduser $quiet postgres postgres
    fi
fi
`;
const DNSMASQ = `if [ "$1" = "configure" ]; then
  if [ -z "\`id -u dnsmasq 2> /dev/null\`" ]; then
    useradd --system \\
            --gid nogroup \\
            --comment dnsmasq \\
            --home-dir /var/lib/misc --no-create-home \\
            --shell /usr/sbin/nologin \\
            dnsmasq
  fi
fi
`;

describe("maintainerAccounts", () => {
  const base = baseAccounts();
  const user = (a: ReturnType<typeof maintainerAccounts>, n: string) => a.users.find((u) => u.name === n);
  const group = (a: ReturnType<typeof maintainerAccounts>, n: string) => a.groups.find((g) => g.name === n);

  test("memcached: the group, then the user in it, names from the script's variables", () => {
    const a = maintainerAccounts([{ pkg: "memcached", name: "postinst", text: MEMCACHED }], base);
    // 100 is Debian's static "users" group; system ids are the lowest free from 100.
    assert.deepEqual(group(a, "memcache"), { name: "memcache", gid: 101, members: [] });
    assert.deepEqual(user(a, "memcache"), {
      name: "memcache",
      uid: 100,
      gid: 101,
      gecos: "Memcached",
      home: "/nonexistent",
      shell: "/bin/false",
    });
    assert.equal(a.users.length, base.users.length + 1);
  });

  test("postgresql-common: adduser --system --group, a conditional option, membership", () => {
    const a = maintainerAccounts([{ pkg: "postgresql-common", name: "postinst", text: POSTGRES }], base);
    const pg = user(a, "postgres")!;
    assert.equal(pg.home, "/var/lib/postgresql");
    assert.equal(pg.shell, "/bin/bash");
    assert.equal(pg.gid, group(a, "postgres")!.gid);
    assert.deepEqual(group(a, "postgres")!.members, ["postgres"]);
  });

  test("useradd --gid names an existing group; Debian's static users are left as they are", () => {
    const squid = "adduser --system --home /var/spool/squid --group proxy\n";
    const a = maintainerAccounts(
      [
        { pkg: "dnsmasq-base", name: "postinst", text: DNSMASQ },
        { pkg: "squid", name: "preinst", text: squid },
      ],
      base,
    );
    assert.deepEqual(
      [user(a, "dnsmasq")!.gid, user(a, "dnsmasq")!.home, user(a, "dnsmasq")!.uid],
      [65534, "/var/lib/misc", 100],
    );
    assert.deepEqual(user(a, "proxy"), user(base as never, "proxy"));
    assert.equal(a.groups.length, base.groups.length);
  });

  test("ids follow package order, not the order scripts are given in", () => {
    const mk = (n: string) => ({ pkg: n, name: "postinst", text: `adduser --system --group ${n}\n` });
    const one = maintainerAccounts([mk("bbb"), mk("aaa")], base);
    const two = maintainerAccounts([mk("aaa"), mk("bbb")], base);
    assert.deepEqual(one, two);
    assert.equal(user(one, "aaa")!.uid, 100);
    assert.equal(user(one, "bbb")!.uid, 101);
  });

  test("a name that stays a variable, or a command in a comment, makes nothing", () => {
    const a = maintainerAccounts(
      [
        {
          pkg: "x",
          name: "postinst",
          text: 'adduser --system "$(cat /etc/x-user)"\nadduser --system $UNSET\n# adduser --system ghost\n',
        },
      ],
      base,
    );
    assert.deepEqual(a, base);
  });
});
