// Validators for the official SBOM JSON schemas: SPDX 2.3 (test/fixtures/compliance, from spdx/spdx-spec)
// and CycloneDX 1.6 (shipped by @cyclonedx/cyclonedx-library, with the SPDX licence-id and JSF schemas it
// $refs, registered under the URLs the refs resolve to).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import Ajv from "ajv";
import Ajv2019 from "ajv/dist/2019.js";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const json = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;

export interface SchemaCheck {
  (doc: unknown): boolean;
  errors?: unknown[] | null;
}

export function spdxValidator(): SchemaCheck {
  const ajv = new Ajv2019.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv.compile(json(new URL("../fixtures/compliance/spdx-2.3.schema.json", import.meta.url).pathname));
}

export function cyclonedxValidator(): SchemaCheck {
  const dir = join(dirname(require.resolve("@cyclonedx/cyclonedx-library/package.json")), "res", "schema");
  const ajv = new Ajv.default({ strict: false, allErrors: true });
  addFormats.default(ajv);
  // Formats ajv-formats lacks; the library's own validator accepts them the same way.
  ajv.addFormat("idn-email", true);
  ajv.addFormat("iri-reference", true);
  for (const f of [
    "spdx.SNAPSHOT.schema.json",
    "jsf-0.82.SNAPSHOT.schema.json",
    "cryptography-defs.SNAPSHOT.schema.json",
  ]) {
    ajv.addSchema(json(join(dir, f)), `http://cyclonedx.org/schema/${f}`);
  }
  return ajv.compile(json(join(dir, "bom-1.6.SNAPSHOT.schema.json")));
}

/**
 * `kiln sbom IMAGE` in both formats: each valid against its official schema, and the SPDX document lists
 * every file of the initrd. Returns both documents for further checks.
 */
export async function checkSboms(
  image: string,
  initrdFiles: readonly string[],
): Promise<{ spdx: { text: string; doc: Record<string, unknown> }; cdx: Record<string, unknown> }> {
  const assert = (await import("node:assert/strict")).default;
  const { runKiln } = await import("../helpers.js");
  const spdx = await runKiln(["sbom", image, "--format", "spdx"]);
  assert.equal(spdx.code, 0, spdx.stderr);
  const doc = JSON.parse(spdx.stdout);
  const v = spdxValidator();
  assert.ok(v(doc), JSON.stringify(v.errors?.slice(0, 3)));
  const listed = new Set(doc.files.map((f: { fileName: string }) => f.fileName.slice(1)));
  for (const f of initrdFiles) assert.ok(listed.has(f), `${f} missing from the SPDX document`);
  const cdx = await runKiln(["sbom", image, "--format", "cyclonedx"]);
  assert.equal(cdx.code, 0, cdx.stderr);
  const bom = JSON.parse(cdx.stdout);
  const vc = cyclonedxValidator();
  assert.ok(vc(bom), JSON.stringify(vc.errors?.slice(0, 3)));
  return { spdx: { text: spdx.stdout, doc }, cdx: bom };
}
