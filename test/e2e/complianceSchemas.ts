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
