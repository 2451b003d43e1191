import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { DEFAULT_DOM0_MEM, launchableCmdline, launchableHypervisorCmdline } from "./launchableCmdline.js";
import { planDiskMB } from "./rawDisk.js";

const manifest = (cmdline: string) => ({ cmdline }) as ImageManifest;
const xenHost = (
  cmdline = "console=ttyS0 quiet panic=-1 console=hvc0",
  hv = "console=com1 com1=115200,8n1",
) => ({ name: "xen-host", cmdline, hypervisor: { name: "xen", cmdline: hv } }) as ImageManifest;

test("cmdline: the image's own words, the extra ones after, a serial console when none is named, no_timer_check", () => {
  assert.equal(
    launchableCmdline(manifest("quiet panic=-1"), "foo=1"),
    "quiet panic=-1 foo=1 console=ttyS0 no_timer_check",
  );
  assert.equal(launchableCmdline(manifest("console=hvc0  quiet")), "console=hvc0 quiet no_timer_check");
});

test("cmdline: a newline (it would end the syslinux APPEND line) or too many bytes are usage errors", () => {
  assert.throws(() => launchableCmdline(manifest("quiet"), "a\nDEFAULT evil"), {
    code: "KILN_ECMDLINE_INVALID",
    message: /control character/,
  });
  assert.throws(() => launchableCmdline(manifest("quiet"), "x".repeat(3000)), {
    code: "KILN_ECMDLINE_INVALID",
    message: /3035 bytes/,
  });
});

test("dom0 under Xen: the image's consoles give way to hvc0 (Xen owns the serial port), no timer hint", () => {
  assert.equal(launchableCmdline(xenHost(), "foo=1"), "quiet panic=-1 foo=1 console=hvc0");
  assert.equal(launchableCmdline(xenHost("console=ttyS0 quiet")), "quiet console=hvc0");
  // A console the caller names is theirs (tty0: the machine's screen).
  assert.equal(launchableCmdline(xenHost(), "console=tty0"), "quiet panic=-1 console=tty0");
});

test("Xen's command line: the image's own, the caller's, and a fixed dom0_mem unless one of them sets it", () => {
  assert.equal(DEFAULT_DOM0_MEM, "dom0_mem=1024M,max:1024M");
  assert.equal(
    launchableHypervisorCmdline(xenHost()),
    "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M",
  );
  assert.equal(
    launchableHypervisorCmdline(xenHost(), "dom0_mem=4G,max:4G  smt=0"),
    "console=com1 com1=115200,8n1 dom0_mem=4G,max:4G smt=0",
  );
  assert.equal(
    launchableHypervisorCmdline(xenHost(undefined, "dom0_mem=2048M console=com1")),
    "dom0_mem=2048M console=com1",
  );
  // "--" hands the rest of Xen's line to dom0: Xen's own feature, not refused as for a kernel.
  assert.equal(
    launchableHypervisorCmdline(xenHost(), "-- x=1"),
    `console=com1 com1=115200,8n1 -- x=1 ${DEFAULT_DOM0_MEM}`,
  );
});

test("Xen launchables: mboot.c32's separator, Xen's 1023 bytes, a hypervisor option for an image without one", () => {
  for (const f of [
    () => launchableCmdline(xenHost(), "a --- b"),
    () => launchableHypervisorCmdline(xenHost(), "---"),
  ])
    assert.throws(f, { code: "KILN_ECMDLINE_INVALID", message: /bare "---".*mboot\.c32/ });
  assert.throws(() => launchableCmdline(xenHost(), "x".repeat(1010)), {
    code: "KILN_ECMDLINE_INVALID",
    message: /1038 bytes .*Xen takes at most 1023/,
  });
  assert.equal(
    launchableCmdline(manifest("quiet"), "x".repeat(1010)).length,
    1045,
    "a bare kernel takes 2047",
  );
  assert.throws(() => launchableHypervisorCmdline(xenHost(), `pad=${"a".repeat(1000)}`), {
    code: "KILN_ECMDLINE_INVALID",
    message: /Xen takes at most 1023/,
  });
  assert.throws(() => launchableHypervisorCmdline(xenHost(), "smt=0\nDEFAULT evil"), {
    code: "KILN_ECMDLINE_INVALID",
    message: /control character/,
  });
  assert.throws(() => launchableHypervisorCmdline(manifest("quiet"), "dom0_mem=1G"), {
    code: "KILN_EOPTION_CONFLICT",
    message: /"dom0_mem=1G" .*boots no hypervisor/,
  });
});

test("disk size: just big enough by default, whole GiB where asked, too small names both sizes", () => {
  const need = 20 * 1024 * 1024;
  assert.equal(planDiskMB(need, false, { name: "x" }), 22);
  assert.equal(planDiskMB(need, true, { name: "x" }), 23);
  assert.equal(planDiskMB(need, true, { name: "x", granularityMB: 1024 }), 1024);
  assert.equal(planDiskMB(1000, false, { name: "x" }), 9, "at least 8 MiB of FAT");
  assert.equal(planDiskMB(need, false, { name: "x", sizeMB: 100 }), 100);
  assert.throws(() => planDiskMB(need, false, { name: "hello", sizeMB: 10 }), {
    code: "KILN_EDISK_TOO_SMALL",
    message: /"hello" on a disk of 10 MiB: it needs at least 22 MiB/,
  });
  assert.throws(() => planDiskMB(need, true, { name: "x", sizeMB: 1500, granularityMB: 1024 }), {
    code: "KILN_ESIZE_INVALID",
    message: /multiple of 1024 MiB/,
  });
});
