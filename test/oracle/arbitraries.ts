import fc from 'fast-check';
import { jsonLimits } from '../../src/json-limits.js';

/**
 * Generators shared by the property tests and the fault harness: decision requests around
 * the default invoice policy (mostly well formed, with odd values mixed in where a real
 * caller gets them wrong), and hostile JSON (unicode, prototype keys, edge numbers).
 */

export const subjectIds = ['alice', 'bob', 'carol'] as const;

/**
 * The ids as a backend or a caller may also spell them: in another case, padded with White_Space
 * (CEL's trim() takes it), with an invisible character trim() leaves, or folded beyond ASCII
 * (lowerAscii() leaves it); and blank.
 */
const otherSpellings = fc.constantFrom('ALICE', ' alice', 'Bob\u00a0', '\u3000carol', 'carol\u0085', 'alice\u200b', '\ufeffbob', 'ALİCE', '', ' ');
const idOrSpelling = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...subjectIds) }, { weight: 1, arbitrary: otherSpellings });
const roleNames = ['accountant', 'finance_manager', 'sales_rep', 'auditor', 'Accountant'];
const scopeNames = ['invoice.read', 'invoice.write', 'invoice.admin', 'invoice', 'invoice.read.all'];
const regions = fc.constantFrom('EU', 'US');
const departments = fc.constantFrom('finance', 'sales');

/** Numbers at the edges of what JSON and doubles can say. */
const edgeNumbers = fc.constantFrom(0, -0, 1, 0.1, 1e-7, 5e-324, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, -(2 ** 63));

/** Number-like strings a caller might send where a number belongs. */
const numberLikeStrings = fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e400', '-0', '100000', '20', '0x10', '1_000', ' 5 ');

/** A value of the wrong type for whatever attribute it lands in. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  edgeNumbers,
  numberLikeStrings,
  fc.string({ maxLength: 6 }),
  fc.constant([]),
  fc.array(fc.constantFrom('EU', 'accountant', 'invoice.read'), { maxLength: 3 }),
  fc.constant({}),
  fc.constant({ EU: true }),
);

function mostly<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 5, arbitrary }, { weight: 1, arbitrary: oddValue });
}

const amounts = fc.oneof(fc.integer({ min: 0, max: 200_000 }), edgeNumbers, numberLikeStrings);

/** What a claim string puts between names: SP, which alone separates them, or whitespace that does not. */
const separators = fc.constantFrom(' ', ' ', ' ', '  ', '\t', '\n', '\u00a0');

function claimList(names: readonly string[]): fc.Arbitrary<unknown> {
  const some = fc.subarray([...names]);
  const joined = fc.tuple(some, separators).map(([list, separator]) => list.join(separator));
  return fc.oneof({ weight: 3, arbitrary: some }, { weight: 2, arbitrary: joined }, { weight: 1, arbitrary: oddValue });
}

/** Subject claims as a gateway or identity provider states them. */
export const invoiceClaims = fc.record(
  {
    roles: claimList(roleNames),
    role: fc.constantFrom(...roleNames),
    scope: claimList(scopeNames),
    scp: claimList(scopeNames),
    region: mostly(regions),
    department: mostly(departments),
    approval_limit: mostly(amounts),
  },
  { requiredKeys: [] },
);

/** Invoice attributes as the calling API states them. */
export const invoiceProperties = fc.record(
  {
    invoice_type: mostly(fc.constantFrom('purchase', 'sales', 'credit_note', 'expense')),
    region: mostly(regions),
    department: mostly(departments),
    amount: mostly(amounts),
    owner: mostly(idOrSpelling),
    status: mostly(fc.constantFrom('draft', 'submitted', 'approved', 'paid')),
  },
  { requiredKeys: [] },
);

// `*` is not among them: a request asking about `*` is a 400 (test/decide.error.test.ts).
export const invoiceActions = fc.constantFrom('read', 'create', 'update', 'approve', 'delete', 'pay', 'READ', 'approve ');

const decisionContext = fc.record({ mfa: fc.oneof(fc.constant(true), fc.constant(false), oddValue) }, { requiredKeys: [] });

/** A subject as a trusted caller states it, or as a token carries it (`sub` and claims). */
export const invoiceSubject = fc.record({ id: idOrSpelling.filter((id) => id.trim() !== ''), properties: invoiceClaims });

/**
 * A subject's type as a trusted caller states it: none (a user), `user`, or another issuer's
 * (`partner-user`), whose ids are the same names yet name no invoice's owner.
 */
const subjectType = fc.option(fc.constantFrom('user', 'partner-user'), { nil: undefined });

/** A subject in `subject` mode: a type stated or not. */
const statedSubject = fc.tuple(invoiceSubject, subjectType).map(([subject, type]) => (type === undefined ? subject : { type, ...subject }));

/** A POST /decide body in `subject` mode around the invoice policy. */
export const invoiceDecideBody = fc.record(
  {
    subject: statedSubject,
    action: invoiceActions,
    resource: fc.record({
      type: fc.oneof({ weight: 9, arbitrary: fc.constant('invoice') }, { weight: 1, arbitrary: fc.constantFrom('Invoice', 'receipt', 'invoice ') }),
      id: fc.constantFrom('inv-1', 'inv-2'),
      properties: invoiceProperties,
    }),
    context: decisionContext,
  },
  { requiredKeys: ['subject', 'action', 'resource'] },
);

export type InvoiceDecideBody = typeof invoiceDecideBody extends fc.Arbitrary<infer T> ? T : never;

/** The question of a /decide body in AuthZEN wire shapes: the 4-tuple of an access evaluation. */
export function asEvaluation(body: InvoiceDecideBody) {
  return {
    subject: { type: 'type' in body.subject ? body.subject.type : 'user', id: body.subject.id, properties: body.subject.properties },
    action: { name: body.action },
    resource: body.resource,
    ...(body.context !== undefined && { context: body.context }),
  };
}

const tupleKeys = ['subject', 'action', 'resource', 'context'] as const;

function without(tuple: ReturnType<typeof asEvaluation>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(tuple).filter(([key]) => !keys.includes(key)));
}

const evaluationsOptions = fc.record(
  { evaluations_semantic: fc.constantFrom('execute_all', 'deny_on_first_deny', 'permit_on_first_permit'), include_reasons: fc.boolean() },
  { requiredKeys: [] },
);

/**
 * AuthZEN evaluations bodies over `decide`'s questions: up to `maxItems` items, each leaving
 * some keys to the top-level defaults (which leave some out too), and options. A body
 * without items is one whole evaluation.
 */
export function evaluationsBodies(decide: fc.Arbitrary<InvoiceDecideBody>, maxItems = 5): fc.Arbitrary<Record<string, unknown>> {
  const part = fc.tuple(decide, fc.subarray([...tupleKeys])).map(([body, left]) => ({ whole: asEvaluation(body), part: without(asEvaluation(body), left) }));
  return fc
    .record({ defaults: part, items: fc.array(part, { maxLength: maxItems }), options: fc.option(evaluationsOptions, { nil: undefined }) })
    .map(({ defaults, items, options }) => ({
      ...(items.length === 0 ? defaults.whole : defaults.part),
      evaluations: items.map((item) => item.part),
      ...(options !== undefined && { options }),
    }));
}

/** AuthZEN search bodies over `decide`'s questions: the searched-for entity is named by its type only; an action search names no action. */
export function searchBodies(kind: 'subject' | 'resource' | 'action', decide: fc.Arbitrary<InvoiceDecideBody>): fc.Arbitrary<Record<string, unknown>> {
  return decide.map((body) => {
    const tuple = asEvaluation(body);
    if (kind === 'action') return without(tuple, ['action']);
    return { ...tuple, [kind]: { type: tuple[kind].type } };
  });
}

/** Keys that have hurt JavaScript services: prototype members, and names the service itself uses. */
const trapKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'mfa', 'roles', 'scope', 'decision');

const anyKey = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 4 }), trapKeys);

const leaf = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  edgeNumbers,
  numberLikeStrings,
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

/** Any JSON value, with unicode (including lone surrogates), prototype keys and edge numbers. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 5 }),
  object: fc.dictionary(anyKey, tie('value'), { maxKeys: 5 }),
})).value;

/** Every array and object in a JSON value, the value itself first. */
function containersIn(value: unknown): Record<string, unknown>[] {
  if (typeof value !== 'object' || value === null) return [];
  return [value as Record<string, unknown>, ...Object.values(value).flatMap(containersIn)];
}

/** Bodies of `bodies` with one value replaced by a hostile one at a random place. */
export function mangled(bodies: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(bodies, fc.nat(), hostileJson).map(([body, pick, replacement]) => {
    const copy = JSON.parse(JSON.stringify(body)) as unknown;
    const holders = containersIn(copy);
    const holder = holders[pick % holders.length] ?? {};
    const keys = Object.keys(holder);
    holder[keys.length === 0 ? 'extra' : keys[pick % keys.length] ?? 'extra'] = replacement;
    return copy;
  });
}

/** What a polluted prototype would need to hold to turn a deny into a permit. */
const permitBait = fc.constant({
  roles: ['finance_manager', 'accountant', 'sales_rep'],
  scope: 'invoice.admin invoice.read invoice.write',
  region: 'EU',
  department: 'finance',
  invoice_type: 'purchase',
  status: 'submitted',
  approval_limit: 1e9,
  mfa: true,
});

/**
 * Bodies of `bodies` as text with one to three of `keys` added to objects at any level, as own
 * members (as JSON.parse makes them), holding hostile values or the attributes a permit needs.
 */
export function withMembers(bodies: fc.Arbitrary<unknown>, keys: readonly string[]): fc.Arbitrary<string> {
  const addition = fc.tuple(fc.nat(), fc.constantFrom(...keys), fc.oneof(permitBait, hostileJson));
  return fc.tuple(bodies, fc.array(addition, { minLength: 1, maxLength: 3 })).map(([body, additions]) => {
    const copy = JSON.parse(JSON.stringify(body)) as unknown;
    const holders = containersIn(copy).filter((holder) => !Array.isArray(holder));
    for (const [pick, key, value] of additions) {
      const holder = holders[pick % holders.length];
      if (holder !== undefined) Object.defineProperty(holder, key, { value, enumerable: true, writable: true, configurable: true });
    }
    return JSON.stringify(copy);
  });
}

/** Those of `rawNumberLexemes` within a double's range that a double does not hold exactly (read as 0 and 123456789012345680000000000000). */
export const inexactNumberLexemes: readonly string[] = ['4.9e-325', '123456789012345678901234567890'];

/** Number lexemes JSON.stringify never writes (overflow, negative zero, huge integers, more digits than a double holds). */
const rawNumberLexemes = fc.constantFrom('1e400', '-1e400', '-0', '-0.0', '0e0', '1E+308', '0.0000000000000000000000001', '1.7976931348623157e309', '1.00000000000000000000', ...inexactNumberLexemes);

const limitPlaceholder = '@approval_limit@';
const amountPlaceholder = '@amount@';

/** /decide bodies whose numeric attributes hold placeholders that `withRawNumbers` fills in. */
export const placeholderDecideBody: fc.Arbitrary<InvoiceDecideBody> = invoiceDecideBody.map((body) => ({
  ...body,
  subject: { ...body.subject, properties: { ...body.subject.properties, approval_limit: limitPlaceholder } },
  resource: { ...body.resource, properties: { ...body.resource.properties, amount: amountPlaceholder } },
}));

/** Bodies (built from `placeholderDecideBody`) as JSON text with raw number lexemes in place of every placeholder. */
export function withRawNumbers(bodies: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc
    .tuple(bodies, rawNumberLexemes, rawNumberLexemes)
    .map(([body, limit, amount]) => JSON.stringify(body).replaceAll(`"${limitPlaceholder}"`, limit).replaceAll(`"${amountPlaceholder}"`, amount));
}

/** Containers nested `depth` deep as JSON text, e.g. `{"a":[{"a":[1]}]}`. */
export function nestedText(depth: number, kind: 'array' | 'object' | 'mixed'): string {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    const array = kind === 'array' || (kind === 'mixed' && i % 2 === 1);
    open += array ? '[' : '{"a":';
    close = (array ? ']' : '}') + close;
  }
  return `${open}1${close}`;
}

/** Depths either side of the limit, and far beyond it. */
export const depthsAroundLimit = fc.oneof(
  fc.integer({ min: 1, max: jsonLimits.maxDepth + 4 }),
  fc.constantFrom(jsonLimits.maxDepth - 2, jsonLimits.maxDepth - 1, jsonLimits.maxDepth, 1_000, 100_000),
);

/** Collection sizes either side of the limit, and far beyond it. */
export const sizesAroundLimit = fc.constantFrom(0, 1, jsonLimits.maxCollection - 1, jsonLimits.maxCollection, jsonLimits.maxCollection + 1, 10_000);
