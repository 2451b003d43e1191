// The specs file's search order is what makes g++ -E, the C++ runtime and kiln's prefix work; checked with
// the host gcc reading it (`-dumpspecs` merges it, `-###` prints the commands it would run).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { parseCxxRuntime } from "../compliance/parts.js";
import { encodeKilnNote, readKilnNote } from "../core/elf.js";
import { gccSpecs } from "./gccSpecs.js";

const musl = {
  include: "/usr/include/x86_64-linux-musl",
  lib: "/usr/lib/x86_64-linux-musl",
  libc: "musl 1.2.3-1",
};
const dir = mkdtempSync(join(tmpdir(), "kiln-specs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The cc1plus and ld command lines gcc would run with these specs (`g++ -###`). */
function commands(specs: string, args: string[]): string {
  const file = join(dir, "t.specs");
  writeFileSync(file, specs);
  // -### prints the commands on stderr and runs nothing.
  const r = spawnSync("g++", [`-specs=${file}`, "-static", "-###", ...args], { encoding: "utf8", cwd: dir });
  return r.stderr.replaceAll('"', "");
}

describe("gccSpecs", () => {
  const cxx = {
    include: ["/rt/include/c++/12", "/rt/include/c++/12/x86_64-linux-musl", "/rt/include/c++/12/backward"],
    lib: "/rt/lib",
  };
  const specs = gccSpecs(musl, {
    noteObject: "/tc/lib/kiln-note-c++.o",
    runtimeLib: "/tc/lib/libkilnrt.a",
    prefix: "/home/u/kiln/prefix",
    cxx,
  });

  test("C++ headers come before musl's, the prefix's after everything; -nostdinc++ drops the C++ ones", () => {
    const run = (extra: string[]) => commands(specs, ["-c", "x.cc", ...extra]);
    const line = run([]);
    const order = [
      "/rt/include/c++/12",
      "/rt/include/c++/12/x86_64-linux-musl",
      musl.include,
      "/home/u/kiln/prefix/include",
    ].map((d) => line.indexOf(` ${d} `));
    assert.ok(
      order.every((i) => i > 0),
      line,
    );
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      line,
    );
    assert.match(line, / -idirafter \/home\/u\/kiln\/prefix\/include /);
    assert.ok(!run(["-nostdinc++"]).includes("/rt/include/c++/12"));
  });

  test("links: the runtime's -L first, then musl's, then the prefix's after the user's; libkilnrt.a after libgcc_eh", () => {
    const line = commands(specs, ["x.o", "-L/user/lib", "-o", "x"])
      .split("\n")
      .find((l) => l.includes("collect2"))!;
    const at = (s: string) => line.lastIndexOf(` ${s}`);
    assert.ok(at("-L/user/lib") > 0 && at("-L/user/lib") < at("-L/rt/lib"), line);
    assert.ok(at("-L/rt/lib") < at(`-L${musl.lib}`), line);
    assert.ok(at(`-L${musl.lib}`) < at("-L/home/u/kiln/prefix/lib"), line);
    assert.ok(at("-lstdc++") > 0 && line.lastIndexOf("libgcc_eh.a") < at("/tc/lib/libkilnrt.a"), line);
    assert.ok(at("/tc/lib/kiln-note-c++.o") > 0, line);
  });

  test("the C specs name no C++ directories; -shared is refused with the stable code", () => {
    const c = gccSpecs(musl, { noteObject: "/tc/lib/kiln-note.o" });
    assert.ok(!c.includes("c++"));
    assert.match(c, /%\{shared:%eKILN_ESHARED_UNSUPPORTED /);
  });
});

describe("the C++ runtime in the kiln note", () => {
  test("a C++ program's note carries cxx=, which reads back and parses into name, version and source", () => {
    const note = {
      tuple: "x86_64-kiln-linux-musl",
      libc: "musl 1.2.3-1",
      toolchain: "kiln 0.1.0 (gcc 12.2.0)",
      cxx: "libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)",
    };
    const desc = encodeKilnNote(note);
    assert.ok(desc.toString("utf8").endsWith("\0cxx=libstdc++ 12.2.0 (gcc-12-source 12.2.0-14+deb12u1)\0"));
    assert.deepEqual(
      readKilnNote({ notes: [{ name: "kiln", type: 0x6b696c6e, desc, section: ".note.kiln" }] }),
      note,
    );
    const { cxx: _, ...c } = note;
    assert.deepEqual(
      readKilnNote({
        notes: [{ name: "kiln", type: 0x6b696c6e, desc: encodeKilnNote(c), section: ".note.kiln" }],
      }),
      c,
    );
    assert.deepEqual(parseCxxRuntime(note.cxx), {
      name: "libstdc++",
      version: "12.2.0",
      source: { name: "gcc-12-source", version: "12.2.0-14+deb12u1" },
    });
    assert.equal(parseCxxRuntime("not a runtime label at all"), undefined);
  });
});
