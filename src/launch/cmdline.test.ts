import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { composeCmdline } from "./cmdline.js";

describe("kernel command line", () => {
  it("lets the backend replace essentials and fills tunables only where the image is silent", () => {
    const line = composeCmdline("console=ttyS0 quiet reboot=t tsc_early_khz=1000", {
      override: ["console=hvc0", "reboot=k"],
      ifAbsent: ["tsc_early_khz=2000", "no_timer_check"],
    });
    assert.equal(line, "quiet tsc_early_khz=1000 console=hvc0 reboot=k no_timer_check");
  });
});
