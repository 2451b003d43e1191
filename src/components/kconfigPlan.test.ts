import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KilnError } from "../core/errors.js";
import {
  BASE_DISABLED,
  BASE_SYMBOLS,
  CHOICES,
  configHashOf,
  configPlan,
  explainOff,
  normalizeSymbols,
  parseDotConfig,
  requestKey,
} from "./kconfigPlan.js";

describe("normalizeSymbols", () => {
  it("drops CONFIG_, deduplicates and sorts", () => {
    assert.deepEqual(normalizeSymbols(["VIRTIO_NET", "CONFIG_PCI", "PCI", " BLOCK "]), [
      "BLOCK",
      "PCI",
      "VIRTIO_NET",
    ]);
  });
  it("refuses what cannot be a Kconfig symbol, quoting it", () => {
    for (const bad of ["", "VIRTIO NET", "PCI=y", "../x", "CONFIG_"]) {
      assert.throws(
        () => normalizeSymbols([bad]),
        (e: unknown) =>
          e instanceof KilnError &&
          e.code === "KILN_EKCONFIG_NAME" &&
          e.kind === "usage" &&
          e.message.includes(JSON.stringify(bad)),
      );
    }
  });
});

describe("configPlan", () => {
  it("enables base and requested symbols and kiln's choices, disables the other members and the defaults kiln drops", () => {
    const p = configPlan(["VIRTIO_NET"]);
    for (const s of [...BASE_SYMBOLS, "VIRTIO_NET", "KERNEL_XZ", "CC_OPTIMIZE_FOR_SIZE"])
      assert.ok(p.enable.includes(s), s);
    const picks = CHOICES.map((c) => c.pick);
    for (const c of CHOICES.flatMap((c) => c.members).filter((c) => !picks.includes(c)))
      assert.ok(p.disable.includes(c), c);
    for (const s of BASE_DISABLED) assert.ok(p.disable.includes(s), s);
    assert.equal(new Set(p.enable).size, p.enable.length);
    assert.deepEqual(
      p.enable.filter((s) => p.disable.includes(s)),
      [],
    );
    assert.deepEqual(p.values, [
      ["PHYSICAL_START", "0x200000"],
      ["LOG_BUF_SHIFT", "14"],
    ]);
  });
  it("lets a request win over kiln's disable list", () => {
    const p = configPlan(["IPV6", "VT"]);
    assert.ok(p.enable.includes("IPV6") && p.enable.includes("VT"));
    assert.ok(!p.disable.includes("IPV6") && !p.disable.includes("VT"));
    assert.ok(p.disable.includes("INPUT"));
  });
  it("leaves the disable list out when asked (the retry when it blocks a request)", () => {
    const p = configPlan(["VIRTIO_INPUT"], { withDisables: false });
    assert.ok(!p.disable.includes("INPUT"));
    assert.ok(p.disable.includes("KERNEL_LZ4"), "the compression choice still has one member");
  });
  it("takes a requested choice member instead of kiln's pick, and refuses two of one choice", () => {
    const p = configPlan(["KERNEL_GZIP", "CC_OPTIMIZE_FOR_PERFORMANCE"]);
    assert.ok(p.enable.includes("KERNEL_GZIP") && !p.enable.includes("KERNEL_XZ"));
    assert.ok(p.disable.includes("KERNEL_XZ") && !p.disable.includes("KERNEL_GZIP"));
    assert.ok(p.enable.includes("CC_OPTIMIZE_FOR_PERFORMANCE") && p.disable.includes("CC_OPTIMIZE_FOR_SIZE"));
    assert.throws(
      () => configPlan(["KERNEL_LZ4", "KERNEL_XZ"]),
      (e: unknown) =>
        e instanceof KilnError && e.code === "KILN_EKCONFIG_CHOICE" && e.message.includes('"KERNEL_XZ"'),
    );
  });
});

describe("requestKey", () => {
  it("is the same for the same set in any spelling and order", () => {
    assert.equal(requestKey(["PCI", "VIRTIO_NET"]), requestKey(["CONFIG_VIRTIO_NET", "PCI", "PCI"]));
  });
  it("differs when the set differs", () => {
    assert.notEqual(requestKey(["PCI"]), requestKey(["PCI", "VIRTIO_NET"]));
    assert.notEqual(requestKey([]), requestKey(["PCI"]));
  });
});

describe("parseDotConfig and configHashOf", () => {
  const text = [
    "# Linux/x86 6.1.192 Kernel Configuration",
    'CONFIG_CC_VERSION_TEXT="gcc (Debian 12.2.0-14) 12.2.0"',
    "CONFIG_64BIT=y",
    "# CONFIG_IPV6 is not set",
    "CONFIG_PHYSICAL_START=0x1000000",
    "",
  ].join("\n");
  it("reads values and leaves unset symbols out", () => {
    const v = parseDotConfig(text);
    assert.equal(v.get("64BIT"), "y");
    assert.equal(v.get("PHYSICAL_START"), "0x1000000");
    assert.equal(v.get("CC_VERSION_TEXT"), '"gcc (Debian 12.2.0-14) 12.2.0"');
    assert.equal(v.has("IPV6"), false);
  });
  it("keys on the source version and every byte of the config", () => {
    const h = configHashOf("6.1.192-2", text);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.notEqual(h, configHashOf("6.1.192-1", text));
    assert.notEqual(
      h,
      configHashOf("6.1.192-2", text.replace("CONFIG_64BIT=y", "# CONFIG_64BIT is not set")),
    );
  });
});

describe("explainOff", () => {
  const kconfig = [
    "if VIRTIO_MENU", // 1
    "", // 2
    "config VIRTIO_PCI", // 3
    '\ttristate "PCI driver for virtio devices"', // 4
    "\tdepends on PCI", // 5
    "\tselect VIRTIO_PCI_LIB", // 6
    "", // 7
    "endif # VIRTIO_MENU", // 8
    "", // 9
    "config VIRTIO_PCI_LIB", // 10
    "\ttristate", // 11
    "\tdepends on PCI && !UML", // 12
    "", // 13
    "config VIRTIO_BALLOON", // 14
    '\ttristate "Virtio balloon driver"', // 15
  ].join("\n");
  it("names the enclosing if and the depends on, and which of their symbols are off", () => {
    const why = explainOff(kconfig, 3, new Map([["PCI", "y"]]));
    assert.equal(why, 'depends on "VIRTIO_MENU && PCI" (off: VIRTIO_MENU)');
  });
  it("says when a symbol has no prompt and only a select can set it", () => {
    const why = explainOff(kconfig, 10, new Map([["PCI", "y"]]));
    assert.match(why, /^depends on "\(PCI && !UML\)"; has no prompt/);
    assert.match(
      explainOff(kconfig, 10, new Map([["UML", "y"]])),
      /^depends on "\(PCI && !UML\)" \(off: PCI; on: UML\)/,
    );
  });
  it("stops at the next entry", () => {
    assert.equal(explainOff(kconfig, 14, new Map()), "turned off by olddefconfig");
  });
});
