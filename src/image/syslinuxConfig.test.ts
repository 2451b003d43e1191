import assert from "node:assert/strict";
import { test } from "node:test";
import { SYSLINUX_LINE_MAX, syslinuxConfig, syslinuxMultiboot } from "./syslinuxConfig.js";

const files = { kernel: "/vmlinuz", initrd: "/initrd" };

test("a kernel: LINUX, INITRD and APPEND under the one default label, serial console, no prompt", () => {
  const cfg = syslinuxConfig({ ...files, cmdline: "quiet console=ttyS0" });
  assert.equal(
    cfg,
    "SERIAL 0 115200\nDEFAULT kiln\nPROMPT 0\nTIMEOUT 0\nLABEL kiln\n  LINUX /vmlinuz\n  INITRD /initrd\n  APPEND quiet console=ttyS0\n",
  );
  assert.equal(syslinuxMultiboot(cfg), undefined, "a direct kernel boot starts no hypervisor");
});

test("a hypervisor: mboot.c32 loads it with its line, then the kernel with its own and the initrd", () => {
  const cfg = syslinuxConfig({
    ...files,
    cmdline: "quiet console=hvc0",
    hypervisor: { file: "/xen", cmdline: "console=com1 dom0_mem=1024M,max:1024M" },
  });
  assert.match(
    cfg,
    /^LABEL kiln\n {2}KERNEL mboot\.c32\n {2}APPEND \/xen console=com1 dom0_mem=1024M,max:1024M --- \/vmlinuz quiet console=hvc0 --- \/initrd\n$/m,
  );
  assert.deepEqual(syslinuxMultiboot(cfg), {
    hypervisor: "/xen",
    cmdline: "console=com1 dom0_mem=1024M,max:1024M",
    modules: [
      { path: "/vmlinuz", cmdline: "quiet console=hvc0" },
      { path: "/initrd", cmdline: "" },
    ],
  });
  // Empty command lines leave no stray words.
  assert.match(
    syslinuxConfig({ ...files, cmdline: "", hypervisor: { file: "/xen", cmdline: "" } }),
    /APPEND \/xen --- \/vmlinuz --- \/initrd\n/,
  );
});

test("reading back: the DEFAULT label (else the first), keywords in any case, a global APPEND, comments", () => {
  const cfg = [
    "# hand-edited",
    "default two",
    "append /xen shared --- /k --- /i",
    "label one",
    "  linux /vmlinuz",
    "label two",
    "  COM32 /boot/MBOOT.C32",
  ].join("\r\n");
  assert.deepEqual(syslinuxMultiboot(cfg)?.cmdline, "shared");
  assert.equal(syslinuxMultiboot(cfg.replace("default two", "default one")), undefined);
  assert.equal(
    syslinuxMultiboot(cfg.replace("default two", ""))?.hypervisor,
    undefined,
    "first label: a kernel",
  );
  assert.equal(
    syslinuxMultiboot("LABEL x\n  KERNEL mboot.c32\n"),
    undefined,
    "mboot.c32 with nothing to load",
  );
});

test("a line syslinux would refuse ('cmdline too long' at its prompt) is a usage error before anything is written", () => {
  const at = (n: number) =>
    syslinuxConfig({
      ...files,
      cmdline: "c",
      hypervisor: { file: "/xen", cmdline: `p=${"a".repeat(n)}` },
    });
  // "mboot.c32 /xen p=... --- /vmlinuz c --- /initrd": 44 bytes besides the padding.
  assert.ok(at(SYSLINUX_LINE_MAX - 44));
  assert.throws(() => at(SYSLINUX_LINE_MAX - 43), {
    code: "KILN_ECMDLINE_INVALID",
    message: /at most 2047 bytes.*this one has 2048/,
  });
});
