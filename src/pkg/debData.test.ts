import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { debDataPaths } from "./debData.js";
import { RootView } from "./rootView.js";

function view(pkgs: Record<string, string[]>): RootView {
  const v = new RootView();
  for (const [pkg, files] of Object.entries(pkgs))
    v.add(pkg, `/store/${pkg}`, {
      format: 1,
      key: pkg,
      files: files.map((p) => ({ path: p, type: "file" as const, mode: 0o644, size: 1 })),
    });
  return v;
}

describe("debDataPaths", () => {
  const v = view({
    "python3.11-minimal": [
      "usr/bin/python3.11",
      "usr/lib/python3.11/os.py",
      "usr/share/man/man1/python3.11.1.gz",
    ],
    "libpython3.11-stdlib": [
      "usr/lib/python3.11/json/__init__.py",
      "usr/share/doc/libpython3.11-stdlib/copyright",
    ],
    "perl-modules-5.36": ["usr/share/perl/5.36/POSIX.pm"],
    "qemu-system-x86": ["usr/bin/qemu-system-x86_64", "usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so"],
    "qemu-system-data": ["usr/share/qemu/bios-256k.bin", "usr/share/applications/qemu.desktop"],
    "qemu-utils": ["usr/bin/qemu-img"],
    seabios: ["usr/share/seabios/bios.bin"],
  });
  const packages = [
    { name: "python3.11-minimal", source: "python3.11" },
    { name: "libpython3.11-stdlib", source: "python3.11" },
    { name: "perl-modules-5.36", source: "perl" },
    { name: "qemu-system-x86", source: "qemu" },
    { name: "qemu-system-data", source: "qemu" },
    { name: "qemu-utils", source: "qemu" },
    { name: "seabios", source: "seabios" },
  ];

  test("a runtime's library tree comes when its interpreter is the program, without docs", () => {
    const got = debDataPaths(v, packages, ["nothing-of-ours"], ["/usr/bin/python3.11"]);
    assert.deepEqual(got, ["/usr/lib/python3.11/json/__init__.py", "/usr/lib/python3.11/os.py"]);
  });

  test("and not when the program only depends on its packages (memcached on perl)", () => {
    assert.deepEqual(debDataPaths(v, packages, ["nothing-of-ours"], ["/usr/bin/memcached"]), []);
  });

  test("the program's own source: plugins and data, not its other programs nor desktop files", () => {
    const got = debDataPaths(v, packages, ["qemu-system-x86"], ["/usr/bin/qemu-system-x86_64"]);
    // SeaBIOS is another source's package, on QEMU's firmware path.
    assert.deepEqual(got, [
      "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
      "/usr/share/qemu/bios-256k.bin",
      "/usr/share/seabios/bios.bin",
    ]);
  });
});
