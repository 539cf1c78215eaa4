import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { newAjv } from './ajv.js';

export const openapiPath = resolve(import.meta.dirname, '../../openapi.yaml');

type Json = Record<string, unknown>;

/** Headers that say something about an answer (which request it answers, how to retry, authenticate, what to send): any one sent must be documented for its status. */
const checkedHeaders = ['allow', 'retry-after', 'www-authenticate', 'accept-encoding', 'x-request-id', 'cache-control'];

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `~` and `/` escaped for a JSON pointer segment. */
function pointerSegment(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** A Hono route path (`/items/:id`) as an OpenAPI path template (`/items/{id}`). */
export function openapiPathOf(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
}

/** openapi.yaml, ready to check real responses against. */
export interface Contract {
  /** Every documented operation, as `METHOD /path/{template}`. */
  readonly operations: readonly string[];
  /**
   * Problems with `res` as the answer of `METHOD path`: an undocumented status or content
   * type, or a body the documented schema rejects. Empty when the response conforms.
   */
  check(method: string, path: string, res: Response): Promise<string[]>;
  /** Problems with `body` as the JSON request body of `METHOD path`: what its documented schema refuses. Empty when the schema accepts it. */
  checkRequest(method: string, path: string, body: unknown): string[];
  /** The statuses documented for `METHOD path` (`200`, `400`, …). */
  statuses(method: string, path: string): string[];
  /** Problems with `res` as the answer to a route the service does not serve (NotFound; MethodNotAllowed for a 405). */
  checkUnrouted(res: Response): Promise<string[]>;
  /**
   * Problems with openapi.yaml itself: a `$ref` that resolves to nothing, a schema that does not
   * compile or holds a keyword neither JSON Schema nor OpenAPI knows, or an object of OpenAPI's
   * own without what the specification requires of it (see `structureIssues`).
   */
  documentIssues(): string[];
}

/** Loads openapi.yaml and compiles its schemas with ajv (JSON Schema 2020-12, as OpenAPI 3.1). */
export async function loadContract(file = openapiPath): Promise<Contract> {
  const doc: unknown = parse(await readFile(file, 'utf8'));
  if (!isJson(doc) || !isJson(doc['paths'])) throw new Error(`${file}: no paths`);
  const root = doc;
  const paths = doc['paths'];
  // Strict about keywords, so that a misspelt one (or a stray key, such as a YAML flow mapping
  // makes of the text after a comma) is refused, not ignored; not about what JSON Schema allows
  // (`properties` without `type: object`).
  const ajv = newAjv({ strictTypes: false, strictTuples: false, strictRequired: false });
  // The keywords OpenAPI 3.1 adds to JSON Schema (§4.8.24), and the fields of the OpenAPI Object,
  // which ajv meets at the root of the document it is given.
  ajv.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
  ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags']);
  ajv.addSchema(doc, 'openapi');

  const operations = Object.entries(paths).flatMap(([path, item]) =>
    isJson(item) ? Object.keys(item).filter((k) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'].includes(k)).map((m) => `${m.toUpperCase()} ${path}`) : [],
  );

  /** The node at a local `$ref` (`#/components/…`), undefined when there is none. */
  function nodeAt(ref: string): unknown {
    return ref.replace(/^#/, '').split('/').slice(1).reduce<unknown>((node, key) => (isJson(node) ? node[key.replaceAll('~1', '/').replaceAll('~0', '~')] : undefined), doc);
  }

  /** Follows a `$ref: '#/components/responses/X'` to the response object and its pointer. */
  function responseAt(pointer: string, response: unknown): { pointer: string; response: Json } | undefined {
    if (!isJson(response)) return undefined;
    const ref = response['$ref'];
    if (typeof ref !== 'string') return { pointer, response };
    return responseAt(ref.replace(/^#/, ''), nodeAt(ref));
  }

  /**
   * The answer's headers against the response's `headers`: each documented one it carries must
   * fit its schema (an integer schema reads the value as a number), and each header of
   * `checkedHeaders` it carries must be documented.
   */
  function checkHeaders(label: string, pointer: string, response: Json, res: Response): string[] {
    const documented = isJson(response['headers']) ? response['headers'] : {};
    const names = new Map(Object.keys(documented).map((name) => [name.toLowerCase(), name]));
    const issues = checkedHeaders.filter((name) => res.headers.has(name) && !names.has(name)).map((name) => `${label}: header ${name} not documented`);
    for (const [lower, name] of names) {
      const value = res.headers.get(lower);
      if (value === null) continue;
      const header = documented[name];
      const schemaPointer = isJson(header) && typeof header['$ref'] === 'string' ? `${header['$ref'].replace(/^#/, '')}/schema` : `${pointer}/headers/${pointerSegment(name)}/schema`;
      const validate = ajv.getSchema(`openapi#${schemaPointer}`);
      if (validate === undefined) {
        issues.push(`${label}: no schema for header ${name}`);
        continue;
      }
      const schema = validate.schema as Json;
      const read = schema['type'] === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
      if (!validate(read)) issues.push(`${label}: header ${name} "${value}" ${(validate.errors ?? []).map((e) => `${e.message ?? 'invalid'} ${JSON.stringify(e.params)}`).join('; ')}`);
    }
    return issues;
  }

  async function checkAgainst(label: string, pointer: string, response: Json, res: Response): Promise<string[]> {
    const headerIssues = checkHeaders(label, pointer, response, res);
    if (headerIssues.length > 0) return headerIssues;
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
    const content = response['content'];
    if (!isJson(content)) return res.status === 204 ? [] : [`${label}: no content documented for ${res.status}`];
    if (!isJson(content[mediaType])) return [`${label}: content type "${mediaType}" not documented for ${res.status} (documented: ${Object.keys(content).join(', ')})`];
    const text = await res.text();
    let body: unknown = text;
    if (/[/+]json$/.test(mediaType)) {
      try {
        body = JSON.parse(text);
      } catch {
        return [`${label}: body is not JSON: ${text.slice(0, 200)}`];
      }
    }
    const validate = ajv.getSchema(`openapi#${pointer}/content/${pointerSegment(mediaType)}/schema`);
    if (validate === undefined) return [`${label}: no schema for ${mediaType}`];
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${label}: body${e.instancePath} ${e.message ?? 'invalid'} ${JSON.stringify(e.params)}`);
  }

  /**
   * Every `$ref` that resolves to nothing, and every schema (under `components/schemas`, or a
   * `schema` of a parameter, header or media type) that does not compile, below `pointer`.
   */
  function documentIssuesAt(pointer: string, node: unknown, inSchema: boolean): string[] {
    if (Array.isArray(node)) return node.flatMap((item, i) => documentIssuesAt(`${pointer}/${i}`, item, inSchema));
    if (!isJson(node)) return [];
    const ref = node['$ref'];
    const issues = typeof ref === 'string' && nodeAt(ref) === undefined ? [`${pointer}: $ref ${ref} resolves to nothing`] : [];
    const isSchema = !inSchema && (/^\/components\/schemas\/[^/]+$/.test(pointer) || pointer.endsWith('/schema'));
    if (isSchema) {
      try {
        ajv.getSchema(`openapi#${pointer}`);
      } catch (error) {
        issues.push(`${pointer}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    return [...issues, ...Object.entries(node).flatMap(([key, value]) => documentIssuesAt(`${pointer}/${pointerSegment(key)}`, value, inSchema || isSchema))];
  }

  /** `node[key]` when it is an object, else an empty one. */
  const member = (node: Json, key: string): Json => (isJson(node[key]) ? node[key] : {});

  /** A Parameter Object needs `name`, `in` and a `schema` or `content`; a `$ref` stands for one checked where it is. */
  function parameterIssues(pointer: string, parameter: unknown): string[] {
    if (!isJson(parameter) || typeof parameter['$ref'] === 'string') return [];
    const whole = typeof parameter['name'] === 'string' && typeof parameter['in'] === 'string' && (isJson(parameter['schema']) || isJson(parameter['content']));
    return whole ? [] : [`${pointer}: a parameter needs its name, its place (in) and a schema or content`];
  }

  /** A Header Object is a parameter without `name` and `in`: the key of its map names it. */
  function headerIssues(pointer: string, header: unknown): string[] {
    if (!isJson(header) || typeof header['$ref'] === 'string') return [];
    const issues = 'name' in header || 'in' in header ? [`${pointer}: a header object has no name (its key names it)`] : [];
    return isJson(header['schema']) || isJson(header['content']) ? issues : [...issues, `${pointer}: a header needs a schema or content`];
  }

  /** A Response Object needs a `description`, and its headers are Header Objects. */
  function responseIssues(pointer: string, response: unknown): string[] {
    if (!isJson(response) || typeof response['$ref'] === 'string') return [];
    const issues = typeof response['description'] === 'string' ? [] : [`${pointer}: a response needs a description`];
    return [...issues, ...Object.entries(member(response, 'headers')).flatMap(([name, header]) => headerIssues(`${pointer}/headers/${pointerSegment(name)}`, header))];
  }

  /**
   * What OpenAPI 3.1 requires of its own objects, which compiling their schemas does not check:
   * a response without a description, a parameter without its name, place or schema, a header
   * object naming itself, a security requirement naming no scheme, an operationId given twice.
   */
  function structureIssues(): string[] {
    const components = member(root, 'components');
    const schemes = new Set(Object.keys(member(components, 'securitySchemes')));
    const operationIds = new Set<string>();
    const issues = [
      ...Object.entries(member(components, 'parameters')).flatMap(([name, parameter]) => parameterIssues(`/components/parameters/${pointerSegment(name)}`, parameter)),
      ...Object.entries(member(components, 'headers')).flatMap(([name, header]) => headerIssues(`/components/headers/${pointerSegment(name)}`, header)),
      ...Object.entries(member(components, 'responses')).flatMap(([name, response]) => responseIssues(`/components/responses/${pointerSegment(name)}`, response)),
    ];
    for (const operation of operations) {
      const [method = '', path = ''] = operation.split(' ');
      const pointer = `/paths/${pointerSegment(path)}/${method.toLowerCase()}`;
      const op = member(member(paths, path), method.toLowerCase());
      const id = op['operationId'];
      if (typeof id === 'string' && operationIds.has(id)) issues.push(`${pointer}: operationId ${id} is given to another operation too`);
      if (typeof id === 'string') operationIds.add(id);
      const security = Array.isArray(op['security']) ? op['security'] : [];
      for (const name of security.flatMap((requirement) => (isJson(requirement) ? Object.keys(requirement) : []))) {
        if (!schemes.has(name)) issues.push(`${pointer}/security: no security scheme named ${name}`);
      }
      const parameters = Array.isArray(op['parameters']) ? op['parameters'] : [];
      issues.push(...parameters.flatMap((parameter, i) => parameterIssues(`${pointer}/parameters/${i}`, parameter)));
      issues.push(...Object.entries(member(op, 'responses')).flatMap(([status, response]) => responseIssues(`${pointer}/responses/${status}`, response)));
    }
    return issues;
  }

  return {
    operations,
    documentIssues: () => [...documentIssuesAt('', doc, false), ...structureIssues()],
    async check(method, path, res) {
      const label = `${method} ${path} → ${res.status}`;
      const operation = isJson(paths[path]) ? paths[path][method.toLowerCase()] : undefined;
      if (!isJson(operation) || !isJson(operation['responses'])) return [`${label}: operation not documented`];
      const responses = operation['responses'];
      const status = String(res.status) in responses ? String(res.status) : 'default';
      const base = `/paths/${pointerSegment(path)}/${method.toLowerCase()}/responses/${status}`;
      const found = responseAt(base, responses[status]);
      if (found === undefined) return [`${label}: status not documented (documented: ${Object.keys(responses).join(', ')})`];
      return checkAgainst(label, found.pointer, found.response, res);
    },
    checkRequest(method, path, body) {
      const label = `${method} ${path} request`;
      const validate = ajv.getSchema(`openapi#/paths/${pointerSegment(path)}/${method.toLowerCase()}/requestBody/content/application~1json/schema`);
      if (validate === undefined) return [`${label}: no application/json body documented`];
      if (validate(body)) return [];
      return (validate.errors ?? []).map((e) => `${label}: body${e.instancePath} ${e.message ?? 'invalid'} ${JSON.stringify(e.params)}`);
    },
    statuses(method, path) {
      const operation = isJson(paths[path]) ? paths[path][method.toLowerCase()] : undefined;
      return isJson(operation) && isJson(operation['responses']) ? Object.keys(operation['responses']) : [];
    },
    async checkUnrouted(res) {
      const name = res.status === 405 ? 'MethodNotAllowed' : 'NotFound';
      const found = responseAt(`/components/responses/${name}`, { $ref: `#/components/responses/${name}` });
      if (found === undefined) return [`components/responses/${name} is not documented`];
      return checkAgainst(`unrouted → ${res.status}`, found.pointer, found.response, res);
    },
  };
}
