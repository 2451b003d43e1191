// The ELF reader checked against Debian's own readelf on real files: a host dynamic program, static and
// static-pie musl programs, relocatable objects of both classes and byte orders, and a kernel module when
// the host has one.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { encodeKilnNote, KILN_NOTE_TYPE, readElf, readKilnNote } from "./elf.js";
import type { KilnError } from "./errors.js";

const readelf = (...args: string[]) => execFileSync("readelf", ["-W", ...args], { encoding: "utf8" });

/** Section name, offset and size as readelf -S prints them. */
function readelfSections(path: string): { name: string; type: string; offset: number; size: number }[] {
  const out: { name: string; type: string; offset: number; size: number }[] = [];
  for (const line of readelf("-S", path).split("\n")) {
    const m = /^\s*\[\s*(\d+)\]\s+(.*?)\s+(\S+)\s+([0-9a-f]{8,16})\s+([0-9a-f]{6,})\s+([0-9a-f]{6,})\s/.exec(
      line,
    );
    if (m)
      out.push({
        name: m[2]!,
        type: m[3]!,
        offset: Number.parseInt(m[5]!, 16),
        size: Number.parseInt(m[6]!, 16),
      });
  }
  return out;
}

/** (section, owner, desc size) of every note, as readelf -n prints them. */
function readelfNotes(path: string): string[] {
  const out: string[] = [];
  let section = "";
  for (const line of readelf("-n", path).split("\n")) {
    const s = /^Displaying notes found in: (\S+)/.exec(line);
    if (s) section = s[1]!;
    const n = /^\s{2}(\S+)\s+0x([0-9a-f]{8})\s/.exec(line);
    if (n && n[1] !== "Owner") out.push(`${section} ${n[1]} ${Number.parseInt(n[2]!, 16)}`);
  }
  return out;
}

function readelfSegmentTypes(path: string): string[] {
  const out: string[] = [];
  let inHeaders = false;
  for (const line of readelf("-l", path).split("\n")) {
    if (/^\s+Type\s+Offset/.test(line)) inHeaders = true;
    else if (inHeaders && /^\s*$/.test(line)) inHeaders = false;
    else if (inHeaders) {
      const m = /^\s{2}(\S+)\s+0x/.exec(line);
      if (m) out.push(m[1]!);
    }
  }
  return out;
}

async function compareWithReadelf(path: string): Promise<void> {
  const info = await readElf(path);
  const theirs = readelfSections(path);
  assert.equal(info.sections.length, theirs.length, "section count");
  for (const [i, s] of theirs.entries()) {
    const mine = info.sections[i]!;
    assert.equal(mine.name, s.name, `section ${i} name`);
    assert.equal(mine.offset, s.offset, `section ${s.name} offset`);
    assert.equal(mine.size, s.size, `section ${s.name} size`);
    if (/^[A-Z_0-9]+$/.test(s.type) && !mine.type.startsWith("0x")) assert.equal(mine.type, s.type);
  }
  assert.deepEqual(
    info.notes.map((n) => `${n.section} ${n.name} ${n.desc.length}`),
    readelfNotes(path),
    "notes",
  );
  const segTypes = readelfSegmentTypes(path);
  assert.equal(info.segments.length, segTypes.length, "segment count");
  for (const [i, t] of segTypes.entries()) {
    if (!info.segments[i]!.type.startsWith("0x")) assert.equal(info.segments[i]!.type, t);
  }
}

let dir = "";
before(() => {
  dir = mkdtempSync(join(tmpdir(), "kiln-elf-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("readElf", () => {
  test("a host dynamic program: interpreter and needed libraries as readelf reports them", async () => {
    const info = await readElf("/bin/ls");
    assert.equal(info.class, "ELF64");
    assert.equal(info.endian, "little");
    assert.equal(info.machine, "x86_64");
    assert.equal(info.isStatic, false);
    const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(readelf("-l", "/bin/ls"))?.[1];
    assert.ok(interp);
    assert.equal(info.interp, interp);
    const needed = [...readelf("-d", "/bin/ls").matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
      (m) => m[1],
    );
    assert.ok(needed.includes("libc.so.6"));
    assert.deepEqual(info.needed, needed);
    const entry = /Entry point address:\s+0x([0-9a-f]+)/.exec(readelf("-h", "/bin/ls"))![1]!;
    assert.equal(info.entry, Number.parseInt(entry, 16));
    assert.equal(info.type, "DYN");
    await compareWithReadelf("/bin/ls");
  });

  test("a shared library: soname as readelf reports it", async () => {
    const lib = execFileSync("gcc", ["-print-file-name=libc.so.6"], { encoding: "utf8" }).trim();
    const info = await readElf(lib);
    const soname = /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(readelf("-d", lib))?.[1];
    assert.equal(info.soname, soname);
    await compareWithReadelf(lib);
  });

  test("static and static-pie musl programs are static; rpath and runpath are read", async () => {
    const src = join(dir, "hello.c");
    writeFileSync(src, '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n');
    const st = join(dir, "static");
    const sp = join(dir, "static-pie");
    const dyn = join(dir, "dyn");
    execFileSync("musl-gcc", ["-static", "-O2", src, "-o", st]);
    // musl-gcc's specs cannot make a static-pie: link one by hand from musl's rcrt1.o.
    const m = "/usr/lib/x86_64-linux-musl";
    const gccFile = (f: string) =>
      execFileSync("gcc", [`-print-file-name=${f}`], { encoding: "utf8" }).trim();
    const obj = join(dir, "hello-pie.o");
    execFileSync(
      "gcc",
      ["-nostdinc", "-isystem", "/usr/include/x86_64-linux-musl", "-isystem", gccFile("include")].concat([
        "-fPIE",
        "-c",
        src,
        "-o",
        obj,
      ]),
    );
    execFileSync(
      "gcc",
      ["-static-pie", "-nostdlib", `${m}/rcrt1.o`, `${m}/crti.o`, gccFile("crtbeginS.o"), obj].concat([
        `-L${m}`,
        "-lc",
        gccFile("libgcc.a"),
        gccFile("crtendS.o"),
        `${m}/crtn.o`,
        "-o",
        sp,
      ]),
    );
    assert.equal(execFileSync(sp, { encoding: "utf8" }), "hi\n");
    execFileSync("gcc", [src, "-o", dyn, "-Wl,-rpath,/opt/a:/opt/b", "-Wl,--disable-new-dtags"]);
    const a = await readElf(st);
    assert.equal(a.isStatic, true);
    assert.equal(a.interp, undefined);
    assert.equal(a.type, "EXEC");
    assert.ok(!readelf("-l", st).includes("INTERP"));
    await compareWithReadelf(st);
    const b = await readElf(sp);
    assert.equal(b.isStatic, true);
    assert.equal(b.pie, true);
    assert.ok(b.segments.some((p) => p.type === "DYNAMIC"));
    await compareWithReadelf(sp);
    const c = await readElf(dyn);
    assert.deepEqual(c.rpath, ["/opt/a", "/opt/b"]);
    assert.deepEqual(c.runpath, []);
    execFileSync("gcc", [src, "-o", dyn, "-Wl,-rpath,/opt/c", "-Wl,--enable-new-dtags"]);
    assert.deepEqual((await readElf(dyn)).runpath, ["/opt/c"]);
  });

  test("relocatable objects: ELF32 and big-endian ELF64", async () => {
    const src = join(dir, "t.c");
    writeFileSync(src, "int x = 1; int f(void) { return x; }\n");
    for (const [target, cls, endian, machine] of [
      ["x86_64-linux-gnu", "ELF64", "little", "x86_64"],
      ["i386-linux-gnu", "ELF32", "little", "i386"],
      ["powerpc64-linux-gnu", "ELF64", "big", "ppc64"],
      ["armv7-linux-gnueabihf", "ELF32", "little", "arm"],
    ] as const) {
      const obj = join(dir, `${target}.o`);
      execFileSync("clang", [`--target=${target}`, "-c", src, "-o", obj]);
      const info = await readElf(obj);
      assert.equal(info.class, cls, target);
      assert.equal(info.endian, endian, target);
      assert.equal(info.machine, machine, target);
      assert.equal(info.type, "REL", target);
      await compareWithReadelf(obj);
    }
  });

  const modules = "/lib/modules";
  const ko = existsSync(modules) ? findKo(modules) : undefined;
  test("a kernel module", { skip: ko ? false : "no .ko under /lib/modules" }, async () => {
    const info = await readElf(ko!);
    assert.equal(info.type, "REL");
    await compareWithReadelf(ko!);
  });

  test("a kiln note assembled by gas reads back, as readelf -p shows it", async () => {
    const note = {
      tuple: "x86_64-kiln-linux-musl",
      libc: "musl 1.2.3-1",
      toolchain: "kiln 0.1.0 (gcc 12.2.0)",
    };
    const desc = encodeKilnNote(note);
    const s = join(dir, "note.s");
    writeFileSync(
      s,
      [
        '.section .note.kiln,"a",@note',
        ".balign 4",
        `.long 5, ${desc.length}, ${KILN_NOTE_TYPE}`,
        '.asciz "kiln"',
        ".balign 4",
        `.byte ${[...desc].join(",")}`,
        ".balign 4",
        "",
      ].join("\n"),
    );
    const o = join(dir, "note.o");
    execFileSync("gcc", ["-c", s, "-o", o]);
    const info = await readElf(o);
    assert.deepEqual(readKilnNote(info), note);
    const strings = readelf("-p", ".note.kiln", o);
    for (const v of Object.values(note)) assert.ok(strings.includes(v), strings);
    assert.equal(readKilnNote(await readElf("/bin/ls")), undefined);
  });

  test("non-ELF and truncated input: KILN_ENOT_ELF quoting the path", async () => {
    const text = join(dir, "text");
    writeFileSync(text, "#!/bin/sh\necho hi\n");
    await assert.rejects(
      readElf(text),
      (e: KilnError) => e.code === "KILN_ENOT_ELF" && e.message.includes(text),
    );
    const ls = readFileSync("/bin/ls");
    for (const n of [3, 40, 200, ls.length - 100]) {
      const cut = join(dir, `cut-${n}`);
      writeFileSync(cut, ls.subarray(0, n));
      await assert.rejects(
        readElf(cut),
        (e: KilnError) => e.code === "KILN_ENOT_ELF" && e.message.includes(JSON.stringify(cut)),
        `cut at ${n}`,
      );
    }
    await assert.rejects(readElf(dir), (e: KilnError) => e.code === "KILN_ENOT_ELF");
    await assert.rejects(readElf(join(dir, "missing")), (e: KilnError) => e.code === "KILN_ENOENT");
  });
});

function findKo(root: string): string | undefined {
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isFile() && e.name.endsWith(".ko")) return p;
    if (e.isDirectory()) {
      const f = findKo(p);
      if (f) return f;
    }
  }
  return undefined;
}
