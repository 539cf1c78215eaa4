import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideBody, isPlainDecideBody } from '../src/http/decide-body.js';
import { hostileJson, invoiceDecideBody, mangled, withMembers } from './oracle/arbitraries.js';

/** What the /decide route reads of a body: every member it passes on. */
function readFields(body: Record<string, unknown>) {
  const subject = body['subject'] as Record<string, unknown> | undefined;
  const resource = body['resource'] as Record<string, unknown>;
  return {
    token: body['token'],
    action: body['action'],
    subject: subject === undefined ? undefined : { id: subject['id'], type: subject['type'], properties: subject['properties'] },
    resource: { type: resource['type'], id: resource['id'], properties: resource['properties'] },
    context: body['context'],
  };
}

/** As the route gets a body: parsed from JSON text. */
const asParsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

// `subject: undefined` leaves the JSON, as a body in token mode has none.
const tokenBody = invoiceDecideBody.map((body) => ({ ...body, subject: undefined, token: 'eyJ.a.b' }));
const usualBodies = fc.oneof(invoiceDecideBody, tokenBody).map(asParsed);
/** Usual bodies with one string member at or around a length limit, or missing. */
const atLimits = fc
  .tuple(usualBodies, fc.constantFrom('action', 'token', 'subject.id', 'subject.type', 'resource.type', 'resource.id'), fc.constantFrom(0, 1, 255, 256, 257, 1023, 1024, 1025, -1))
  .map(([body, field, length]) => {
    const [outer, inner] = field.split('.') as [string, string | undefined];
    const record = body as Record<string, unknown>;
    const holder = inner === undefined ? record : (record[outer] as Record<string, unknown> | undefined);
    const key = inner ?? outer;
    if (holder !== undefined) {
      if (length === -1) Reflect.deleteProperty(holder, key);
      else holder[key] = 'x'.repeat(length);
    }
    return body;
  });

const bodies = fc.oneof(
  usualBodies,
  atLimits,
  mangled(invoiceDecideBody).map(asParsed),
  mangled(tokenBody).map(asParsed),
  withMembers(fc.oneof(invoiceDecideBody, tokenBody), ['__proto__', 'constructor', 'prototype', 'token', 'subject']).map((text) => JSON.parse(text) as unknown),
  hostileJson.map(asParsed),
);

describe('the /decide body check that skips zod', () => {
  it('takes only bodies zod takes, and zod reads the same members from them', () => {
    fc.assert(
      fc.property(bodies, (body) => {
        if (!isPlainDecideBody(body)) return;
        const parsed = decideBody.safeParse(body);
        expect(parsed.success, JSON.stringify(body)).toBe(true);
        expect(readFields(body as Record<string, unknown>)).toStrictEqual(readFields(parsed.data as Record<string, unknown>));
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the usual bodies, so the fast path is the one they take', () => {
    fc.assert(
      fc.property(usualBodies, (body) => {
        expect(isPlainDecideBody(body), JSON.stringify(body)).toBe(true);
      }),
    );
  });

  it('leaves a body with a __proto__ member in its properties to zod, which drops that member', () => {
    const body = JSON.parse('{"subject": {"id": "a", "properties": {"__proto__": {"roles": ["x"]}}}, "action": "read", "resource": {"type": "invoice"}}') as unknown;
    expect(isPlainDecideBody(body)).toBe(false);
    expect(decideBody.parse(body).subject?.properties).toStrictEqual({});
  });
});
