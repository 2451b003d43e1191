import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  baseAccounts,
  initAccounts,
  parseGroup,
  parsePasswd,
  renderGroup,
  renderPasswd,
  resolveUser,
} from "./accounts.js";

describe("accounts", () => {
  test("Debian's static accounts render as passwd(5) and group(5) lines and read back the same", () => {
    const a = baseAccounts();
    assert.equal(a.users[0]!.name, "root");
    assert.deepEqual(parsePasswd(renderPasswd(a)), a.users);
    assert.deepEqual(parseGroup(renderGroup(a)), a.groups);
    assert.match(renderPasswd(a), /^nobody:x:65534:65534:nobody:\/nonexistent:\/usr\/sbin\/nologin$/m);
  });

  test("malformed lines are skipped as getpwnam skips them", () => {
    assert.deepEqual(
      parsePasswd("ok:x:5:6::/h:/s\nshort:x:1\nbad:x:one:2::/:/\n").map((u) => u.name),
      ["ok"],
    );
  });

  test("resolveUser: names, numbers, NAME:GROUP, and what is refused", () => {
    const { users, groups } = initAccounts();
    assert.deepEqual(resolveUser("nobody", users, groups), { uid: 65534, gid: 65534, name: "nobody" });
    assert.deepEqual(resolveUser("0", users, groups), { uid: 0, gid: 0 });
    assert.deepEqual(resolveUser("1000", users, groups), { uid: 1000, gid: 1000 });
    assert.deepEqual(resolveUser("1000:nogroup", users, groups), { uid: 1000, gid: 65534 });
    assert.deepEqual(resolveUser("nobody:0", users, groups), { uid: 65534, gid: 0, name: "nobody" });
    for (const [spec, msg] of [
      ["postgres", /no user "postgres"/],
      ["nobody:staff", /no group "staff"/],
      ["4294967295", /no user "4294967295"/],
      ["a:b:c", /write a user name or uid/],
      ["nobody:", /write a user name or uid/],
    ] as const)
      assert.throws(
        () => resolveUser(spec, users, groups),
        (e: Error & { code?: string }) => e.code === "KILN_EUSER" && msg.test(e.message),
      );
  });
});
