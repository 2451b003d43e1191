/**
 * CycloneDX 1.6 JSON for an image, built with @cyclonedx/cyclonedx-library's models and JSON serializer.
 * Deterministic: serial number from the image digest, timestamp from the image, sorted lists. Every initrd
 * file is a component (files of the kernel package nested under it) with the property `kiln:path`;
 * programs and kiln-init depend on musl, which they link statically.
 */
import { Enums, Models, Serialize, Spec } from "@cyclonedx/cyclonedx-library";
import { KILN_VERSION } from "../core/version.js";
import { NOASSERTION, NONE } from "./licenseExpression.js";
import type { ImageParts, Part } from "./parts.js";
import { digestUuid } from "./spdx.js";

const TYPE: Record<Part["kind"], Enums.ComponentType> = {
  hypervisor: Enums.ComponentType.OperatingSystem,
  kernel: Enums.ComponentType.OperatingSystem,
  module: Enums.ComponentType.File,
  libc: Enums.ComponentType.Library,
  init: Enums.ComponentType.Application,
  program: Enums.ComponentType.Application,
  library: Enums.ComponentType.Library,
  file: Enums.ComponentType.File,
  config: Enums.ComponentType.File,
};

function component(p: Part): Models.Component {
  const c = new Models.Component(TYPE[p.kind], p.name, {
    bomRef: p.id,
    ...(p.version ? { version: p.version } : {}),
    ...(p.purl ? { purl: p.purl } : {}),
  });
  if (p.sha256) c.hashes.set(Enums.HashAlgorithm["SHA-256"], p.sha256);
  if (p.sha1) c.hashes.set(Enums.HashAlgorithm["SHA-1"], p.sha1);
  if (p.license !== NOASSERTION && p.license !== NONE)
    c.licenses.add(new Models.LicenseExpression(p.license));
  if (p.supplier) c.supplier = new Models.OrganizationalEntity({ name: p.supplier });
  const prop = (name: string, value: string | undefined) => {
    if (value !== undefined) c.properties.add(new Models.Property(name, value));
  };
  prop("kiln:kind", p.kind);
  prop("kiln:path", p.path);
  prop("kiln:file", p.file);
  prop("kiln:symlink", p.target);
  prop("kiln:note", p.note);
  if (p.debian) {
    prop("kiln:debian:package", p.debian.package);
    prop("kiln:debian:source", p.debian.source);
    prop("kiln:debian:sourceVersion", p.debian.sourceVersion);
  }
  return c;
}

export function cyclonedxBom(img: ImageParts): Models.Bom {
  const bom = new Models.Bom({ serialNumber: `urn:uuid:${digestUuid(img.digest, "cyclonedx")}` });
  bom.metadata.timestamp = new Date(img.created);
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, "kiln", { version: KILN_VERSION }),
  );
  const root = new Models.Component(Enums.ComponentType.Application, img.name, {
    bomRef: `image:${img.name}`,
    version: `sha256:${img.digest}`,
  });
  root.properties.add(new Models.Property("kiln:platform", img.platform));
  bom.metadata.component = root;

  const byId = new Map(img.parts.map((p) => [p.id, component(p)]));
  for (const p of img.parts) {
    const c = byId.get(p.id)!;
    const parent = p.containedIn ? byId.get(p.containedIn) : undefined;
    if (parent) parent.components.add(c);
    else {
      bom.components.add(c);
      root.dependencies.add(c.bomRef);
    }
    for (const l of p.links ?? []) {
      const target = byId.get(l);
      if (target) c.dependencies.add(target.bomRef);
    }
  }
  return bom;
}

export function cyclonedxJson(img: ImageParts): string {
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return `${serializer.serialize(cyclonedxBom(img), { sortLists: true, space: 2 })}\n`;
}
