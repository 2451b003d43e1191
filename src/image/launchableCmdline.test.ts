import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { launchableCmdline } from "./launchableCmdline.js";
import { planDiskMB } from "./rawDisk.js";

const manifest = (cmdline: string) => ({ cmdline }) as ImageManifest;

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
