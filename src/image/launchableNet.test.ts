import assert from "node:assert/strict";
import { test } from "node:test";
import type { KilnError } from "../core/errors.js";
import type { ImageManifest } from "../manifest/imageManifest.js";
import { launchableNetCmdline, parseLaunchableNet } from "./launchableNet.js";

const manifest = (net?: unknown) =>
  ({ config: { v: 1, ...(net ? { net } : {}) } }) as unknown as ImageManifest;
const decode = (words: string) =>
  JSON.parse(Buffer.from(words.replace(/^kiln\.config=/, ""), "base64url").toString("utf8"));

test("cloud formats ask DHCP for eth0 unless the image configures its network; others only when asked", () => {
  assert.deepEqual(decode(launchableNetCmdline(manifest(), "gce")), {
    v: 1,
    net: [{ if: "eth0", dhcp: true }],
  });
  assert.match(launchableNetCmdline(manifest(), "vhd"), /^kiln\.config=[A-Za-z0-9_-]+$/);
  assert.equal(launchableNetCmdline(manifest([{ if: "eth0", addr: "10.0.0.2/24" }]), "gce"), "");
  assert.equal(launchableNetCmdline(manifest(), "gce", "none"), "");
  assert.equal(launchableNetCmdline(manifest(), "raw-bios"), "");
  assert.equal(launchableNetCmdline(manifest(), "qcow2"), "");
  assert.deepEqual(decode(launchableNetCmdline(manifest([{ if: "eth0" }]), "qcow2", "dhcp")).net, [
    { if: "eth0", dhcp: true },
  ]);
});

test("--net takes dhcp or none; anything else is a usage error naming it", () => {
  assert.equal(parseLaunchableNet("dhcp"), "dhcp");
  assert.throws(
    () => parseLaunchableNet("static"),
    (e: KilnError) => e.code === "KILN_ENET_INVALID" && e.kind === "usage" && e.message.includes('"static"'),
  );
});
