import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { type DomainXmlInput, domainXml, xmlEscape } from "./libvirtDomain.js";

/** libvirt's own check of a domain XML against its RELAX NG schema (libvirt-clients, with xmllint). */
function validate(xml: string): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "kiln-domxml-"));
  try {
    const f = join(dir, "domain.xml");
    writeFileSync(f, xml);
    const r = spawnSync("virt-xml-validate", [f, "domain"], { encoding: "utf8" });
    return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const base: DomainXmlInput = {
  domain: "kiln-web",
  mark: { machine: "web", id: "0123456789abcdef", image: "web & co" },
  type: "qemu",
  machine: "q35",
  memoryMB: 144,
  cpus: 2,
  kernel: "/var/lib/libvirt/kiln/kernel-aa.pvh.elf",
  initrd: "/var/lib/libvirt/kiln/initrd-bb",
  cmdline: "console=ttyS0 kiln.config=eyJ2IjoxfQ <x>",
  console: { file: "/var/lib/libvirt/kiln/kiln-web-0123.console" },
  net: { kind: "none" },
  disks: [],
};

describe("libvirt domain XML", () => {
  it("is valid for libvirt's schema with every kind of device kiln attaches", () => {
    for (const net of [
      { kind: "none" },
      { kind: "user", forwards: [] },
      { kind: "bridge", bridge: "br0", mac: "52:54:00:12:34:56" },
      { kind: "network", network: "default" },
      { kind: "tap", ifname: "tap0" },
    ] as DomainXmlInput["net"][]) {
      const xml = domainXml({
        ...base,
        net,
        disks: [
          { path: "/d/a.img", ro: true },
          { path: "/d/b.img", ro: false },
        ],
      });
      const r = validate(xml);
      assert.ok(r.ok, `${net.kind}: ${r.out}\n${xml}`);
    }
    assert.ok(validate(domainXml({ ...base, console: "pty", type: "kvm", machine: "pc" })).ok);
  });

  it("the schema check itself refuses a broken domain", () => {
    const bad = domainXml(base).replace("<vcpu>2</vcpu>", "<vcpu>two</vcpu>");
    assert.ok(!validate(bad).ok);
  });

  it("boots the kernel directly with the command line escaped, and carries kiln's mark", () => {
    const xml = domainXml({ ...base, disks: [{ path: "/d/a.img", ro: true }] });
    assert.match(xml, /<kernel>\/var\/lib\/libvirt\/kiln\/kernel-aa\.pvh\.elf<\/kernel>/);
    assert.match(xml, /<cmdline>console=ttyS0 kiln\.config=eyJ2IjoxfQ &lt;x&gt;<\/cmdline>/);
    assert.match(
      xml,
      /<kiln:machine xmlns:kiln='https:\/\/kiln\.dev\/xmlns\/libvirt\/machine\/1' name='web' id='0123456789abcdef' image='web &amp; co'\/>/,
    );
    assert.match(xml, /<target dev='vda' bus='virtio'\/>\s*<readonly\/>/);
    assert.match(xml, /<on_poweroff>destroy<\/on_poweroff>/);
    assert.equal(xmlEscape(`a<'&">`), "a&lt;&apos;&amp;&quot;&gt;");
  });
});
