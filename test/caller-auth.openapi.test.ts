import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decisionPathPrefixes } from '../src/http/middleware/caller-auth.js';

interface Operation {
  readonly security?: readonly Record<string, unknown>[];
  readonly responses: Record<string, unknown>;
}

const httpMethods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

describe('openapi.yaml documents caller authentication', async () => {
  const spec = parse(await readFile(resolve(import.meta.dirname, '../openapi.yaml'), 'utf8')) as {
    paths: Record<string, Record<string, Operation>>;
    components: { securitySchemes?: Record<string, { type: string; scheme?: string }> };
  };
  const protectedOperations = Object.entries(spec.paths)
    .filter(([path]) => decisionPathPrefixes.some((p) => path === p || path.startsWith(`${p}/`)))
    // A path item also holds keys that are not operations (`servers` on the AuthZEN paths).
    .flatMap(([path, operations]) => Object.entries(operations).filter(([method]) => httpMethods.has(method)).map(([method, op]) => ({ name: `${method.toUpperCase()} ${path}`, op })));

  it('has a bearer caller-key scheme', () => {
    expect(spec.components.securitySchemes?.['callerKey']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(protectedOperations.map((o) => o.name)).toContain('POST /decide');
  });

  it.each(protectedOperations)('$name names the caller key and answers 401', ({ op }) => {
    expect(op.security).toContainEqual({ callerKey: [] });
    expect(op.responses['401']).toEqual({ $ref: '#/components/responses/Unauthenticated' });
  });
});
