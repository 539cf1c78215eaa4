import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { decideBody, isPlainDecideBody } from '../src/http/decide-body.js';
import { evaluationBody, isPlainEvaluationBody } from '../src/http/routes/authzen-evaluation.js';
import { asEvaluation, hostileJson, invoiceDecideBody, mangled, withMembers } from './oracle/arbitraries.js';

/** As a route gets a body: parsed from JSON text. */
const asParsed = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? 'null');

type Json = Record<string, unknown>;

/** `bodies` with one string member (a dotted path) at or around a length limit, or missing. */
function atLimits(bodies: fc.Arbitrary<unknown>, fields: readonly string[]): fc.Arbitrary<unknown> {
  return fc.tuple(bodies, fc.constantFrom(...fields), fc.constantFrom(0, 1, 255, 256, 257, 1023, 1024, 1025, -1)).map(([body, field, length]) => {
    const [outer, inner] = field.split('.') as [string, string | undefined];
    const holder = inner === undefined ? (body as Json) : ((body as Json)[outer] as Json | undefined);
    const key = inner ?? outer;
    if (holder !== undefined) {
      if (length === -1) Reflect.deleteProperty(holder, key);
      else holder[key] = 'x'.repeat(length);
    }
    return body;
  });
}

/** Every sort of body around `usual`: usual ones, ones at the limits, mangled, with trap members, anything. */
function bodiesAround(usual: fc.Arbitrary<unknown>, stringFields: readonly string[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    usual.map(asParsed),
    atLimits(usual.map(asParsed), stringFields),
    mangled(usual).map(asParsed),
    withMembers(usual, ['__proto__', 'constructor', 'prototype', 'token', 'subject', 'options']).map((text) => JSON.parse(text) as unknown),
    hostileJson.map(asParsed),
  );
}

/**
 * The contract of a hand check that lets a body skip its zod parse: it takes only bodies zod
 * takes, zod reads the same members from them, and it takes the usual bodies.
 */
function holdsToSchema<S extends z.ZodType>(check: (raw: unknown) => boolean, schema: S, read: (body: Json) => unknown, usual: fc.Arbitrary<unknown>, stringFields: readonly string[]) {
  it('takes only bodies zod takes, and zod reads the same members from them', () => {
    fc.assert(
      fc.property(bodiesAround(usual, stringFields), (body) => {
        if (!check(body)) return;
        const parsed = schema.safeParse(body);
        expect(parsed.success, JSON.stringify(body)).toBe(true);
        expect(read(body as Json)).toStrictEqual(read(parsed.data as Json));
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the usual bodies, so they take the fast path', () => {
    fc.assert(
      fc.property(usual.map(asParsed), (body) => {
        expect(check(body), JSON.stringify(body)).toBe(true);
      }),
    );
  });
}

const member = (value: unknown, key: string) => (value as Json | undefined)?.[key];
const entity = (value: unknown) => ({ type: member(value, 'type'), id: member(value, 'id'), properties: member(value, 'properties') });

describe('the /decide body check that skips zod', () => {
  // `subject: undefined` leaves the JSON, as a body in token mode has none.
  const tokenBody = invoiceDecideBody.map((body) => ({ ...body, subject: undefined, token: 'eyJ.a.b' }));
  holdsToSchema(
    isPlainDecideBody,
    decideBody,
    (body) => ({ token: body['token'], action: body['action'], subject: body['subject'] === undefined ? undefined : entity(body['subject']), resource: entity(body['resource']), context: body['context'] }),
    fc.oneof(invoiceDecideBody, tokenBody),
    ['action', 'token', 'subject.id', 'subject.type', 'resource.type', 'resource.id'],
  );

  it('takes a body with a __proto__ member in its properties, which zod keeps as well', () => {
    const body = JSON.parse('{"subject": {"id": "a", "properties": {"__proto__": {"roles": ["x"]}}}, "action": "read", "resource": {"type": "invoice"}}') as unknown;
    expect(isPlainDecideBody(body)).toBe(true);
    expect(JSON.stringify(decideBody.parse(body).subject?.properties)).toBe('{"__proto__":{"roles":["x"]}}');
  });
});

describe('the AuthZEN evaluation body check that skips zod', () => {
  const options = fc.option(fc.record({ explain: fc.boolean() }, { requiredKeys: [] }), { nil: undefined });
  const actionProperties = fc.option(fc.record({ method: fc.constantFrom('GET', 'POST') }), { nil: undefined });
  const evaluation = fc.tuple(invoiceDecideBody, options, actionProperties).map(([body, opts, properties]) => {
    const tuple = asEvaluation(body);
    return { ...tuple, action: { ...tuple.action, properties }, options: opts };
  });
  holdsToSchema(
    isPlainEvaluationBody,
    evaluationBody,
    (body) => ({
      subject: entity(body['subject']),
      action: { name: member(body['action'], 'name'), properties: member(body['action'], 'properties') },
      resource: entity(body['resource']),
      context: body['context'],
      explain: member(body['options'], 'explain'),
    }),
    evaluation,
    ['subject.id', 'subject.type', 'resource.type', 'resource.id', 'action.name'],
  );
});
