import { jsonLimits } from '../../../src/json-limits.js';
import { nestedText } from '../../../test/oracle/arbitraries.js';

/** One request the load process sends, and the answer it must get. */
export interface Planned {
  readonly kind: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly expect: {
    readonly status: number;
    readonly decision?: 'permit' | 'deny';
    /** The service may instead close the connection while the body is still being sent. */
    readonly mayCloseEarly?: boolean;
    /** The subject comes as a token minted valid: an `invalid_token` deny is counted as `tokenRefused`. */
    readonly verifiesToken?: boolean;
  };
}

const json = { 'content-type': 'application/json' };
const question = {
  subject: { id: 'alice', properties: { roles: ['accountant'], scope: 'invoice.read', region: 'EU' } },
  action: 'read',
  resource: { type: 'invoice', id: 'inv-1', properties: { region: 'EU' } },
};
const withContext = (context: string) => JSON.stringify({ ...question, context: { x: '@' } }).replace('"@"', context);

/**
 * Requests that break a limit or try a trick, each with its one right answer under the
 * service's defaults (MAX_BODY_BYTES 1 MiB, MAX_HEADER_BYTES 16 KiB, no token keys).
 */
export function hostileRequests(): Planned[] {
  return [
    { kind: 'nesting over the depth limit', body: withContext(nestedText(jsonLimits.maxDepth + 10, 'mixed')), headers: json, expect: { status: 400 } },
    { kind: 'array over the length limit', body: withContext(JSON.stringify(Array.from({ length: jsonLimits.maxCollection + 1 }, (_, i) => i))), headers: json, expect: { status: 400 } },
    { kind: 'string over the length limit', body: withContext(JSON.stringify('s'.repeat(jsonLimits.maxString + 1))), headers: json, expect: { status: 400 } },
    { kind: 'body over MAX_BODY_BYTES', body: withContext(JSON.stringify(Array.from({ length: 600 }, () => 'b'.repeat(1_800)))), headers: json, expect: { status: 413, mayCloseEarly: true } },
    { kind: 'headers over MAX_HEADER_BYTES', body: JSON.stringify(question), headers: { ...json, 'x-padding': 'h'.repeat(20_000) }, expect: { status: 431 } },
    { kind: 'malformed JSON', body: '{"subject": {"id": "alice",', headers: json, expect: { status: 400 } },
    { kind: 'not JSON', body: 'subject=alice&action=read', headers: { 'content-type': 'application/x-www-form-urlencoded' }, expect: { status: 415 } },
    { kind: 'token with no keys configured', body: JSON.stringify({ ...question, subject: undefined, token: 'eyJhbGciOiJub25lIn0.eyJzY29wZSI6Imludm9pY2UuYWRtaW4ifQ.' }), headers: json, expect: { status: 200, decision: 'deny' } },
    {
      kind: 'prototype keys claiming admin',
      body: '{"subject":{"id":"alice","properties":{"__proto__":{"scope":"invoice.admin"},"constructor":{"prototype":{"scope":"invoice.admin"}}}},"action":"delete","resource":{"type":"invoice","properties":{"__proto__":{"status":"draft"}}},"context":{"__proto__":{"mfa":true}}}',
      headers: json,
      expect: { status: 200, decision: 'deny' },
    },
  ];
}
