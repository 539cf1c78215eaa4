import { Ajv2020, type Options } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';

/** A JSON Schema 2020-12 validator (the dialect of OpenAPI 3.1 and of policy.schema.json), strict unless `options` say otherwise. */
export function newAjv(options: Options = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, ...options });
  // ajv-formats is CommonJS: under NodeNext the default import is its module.exports,
  // which carries the plugin again as `.default`.
  formats.default(ajv);
  return ajv;
}
