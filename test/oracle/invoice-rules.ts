/**
 * The default invoice policy (policies/invoices.json) stated again, independently of the
 * engine: plain TypeScript over the request as sent, with CEL's semantics spelled out where
 * they matter (a missing attribute is an error; an error makes a permit rule not apply and
 * a deny rule apply; `==` is deep equality and false across types). Tests and the fault
 * harness compare every decision the service makes against it.
 */

/** One question in the terms of POST /decide, with the subject's claims already in hand. */
export interface InvoiceQuestion {
  /** `user` unless the request states another. */
  readonly subjectType: string;
  readonly subjectId: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly action: string;
  readonly resourceType: string;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly context: Readonly<Record<string, unknown>>;
}

export type Expected = 'permit' | 'deny';

const missing = Symbol('missing');
type Attribute = unknown;

function attribute(record: Readonly<Record<string, unknown>>, key: string): Attribute {
  return Object.hasOwn(record, key) ? record[key] : missing;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** CEL equality on JSON values: deep, numeric for numbers, false across types. */
function celEquals(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => celEquals(item, b[i]));
  }
  if (isRecord(a) || isRecord(b)) {
    if (!isRecord(a) || !isRecord(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && celEquals(a[k], b[k]));
  }
  return a === b;
}

/** `x == y` on two attributes: true only when both are present and equal (missing is an error, not false). */
function sameAttribute(a: Attribute, b: Attribute): boolean {
  return a !== missing && b !== missing && celEquals(a, b);
}

/** The names a claim holds: an array's strings, or a string's words between SPs (RFC 6749 §3.3), not any whitespace. */
function words(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.split(' ').filter((s) => s.length > 0);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return undefined;
}

/** Roles and scopes as the service reads them from claims: the union of `roles`/`role` and of `scope`/`scp`. */
export function rolesAndScopes(claims: Readonly<Record<string, unknown>>): { roles: string[]; scopes: string[] } {
  const union = (...names: string[]) => names.flatMap((name) => words(claims[name]) ?? []);
  return { roles: union('roles', 'role'), scopes: union('scope', 'scp') };
}

/** CEL's `lowerAscii()`: ASCII letters only. */
function lowerAscii(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

/** CEL's `trim()`: Unicode White_Space off both ends (not U+FEFF, which JavaScript's trim takes). */
function celTrim(text: string): string {
  return text.replace(/^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');
}

/** The actions the invoice policy's rules name, besides "*". */
const namedActions = ['read', 'create', 'update', 'approve', 'delete'];

/** The decision the default invoice policy gives. */
export function expectedDecision(q: InvoiceQuestion): Expected {
  if (q.resourceType !== 'invoice') return 'deny';
  // An action the rules name only in another case (`READ`) or with whitespace or invisible
  // characters added (`approve `) is denied, never left to P1's "*".
  const folded = q.action.toLowerCase().replace(/[\s\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu, '');
  if (!namedActions.includes(q.action) && namedActions.includes(folded)) return 'deny';
  const { roles, scopes } = rolesAndScopes(q.claims);
  const r = (key: string) => attribute(q.resource, key);
  const s = (key: string) => attribute(q.claims, key);
  const anyRole = (...wanted: string[]) => wanted.some((role) => roles.includes(role));
  const is = (action: string) => q.action === action;

  // Deny rules: an attribute they need that is missing makes them apply (fail closed).
  if (is('approve')) {
    // D1: owners compare ignoring ASCII case and surrounding whitespace; an empty one is none.
    const owner = r('owner');
    if (typeof owner !== 'string' || celTrim(owner) === '' || lowerAscii(celTrim(owner)) === lowerAscii(celTrim(q.subjectId))) return 'deny';
    if (attribute(q.context, 'mfa') !== true) return 'deny';
  }
  if (is('update') || is('delete')) {
    // D2: only a status known not to be paid lets an update or delete through; any other
    // ("Paid", "paid ", missing, not a string) cannot be told from "paid".
    const status = r('status');
    if (typeof status !== 'string' || !['draft', 'submitted', 'approved'].includes(status)) return 'deny';
  }

  // A region or department that is not a string is none: null == null would match two of them.
  const sameRegion = typeof r('region') === 'string' && sameAttribute(r('region'), s('region'));
  const sameDepartment = typeof r('department') === 'string' && sameAttribute(r('department'), s('department'));
  const type = r('invoice_type');
  const status = r('status');
  // A new invoice states no status (null says the same), or starts draft or submitted: never approved or paid.
  const newStatus = status === missing || status === null || status === 'draft' || status === 'submitted';
  // An id names the owner only for a user: another issuer's subject may bear a local user's id.
  const owns = q.subjectType === 'user' && r('owner') === q.subjectId;
  // A new invoice names no owner (null says the same), or its creator: one recorded under another could be approved by its creator past D1.
  const newOwner = r('owner') === missing || r('owner') === null || owns;
  const permits = [
    scopes.includes('invoice.admin'),
    is('read') && anyRole('accountant', 'finance_manager') && scopes.includes('invoice.read') && sameRegion,
    (is('create') || is('update')) && anyRole('accountant', 'finance_manager') && scopes.includes('invoice.write') &&
      (type === 'purchase' || type === 'credit_note') && sameRegion && (is('create') ? newStatus && newOwner : status === 'draft' || status === 'submitted'),
    is('approve') && anyRole('finance_manager') && scopes.includes('invoice.write') && sameRegion && status === 'submitted' &&
      typeof r('amount') === 'number' && typeof s('approval_limit') === 'number' && Math.abs(r('amount') as number) <= (s('approval_limit') as number),
    is('read') && anyRole('sales_rep') && scopes.includes('invoice.read') && type === 'sales' && sameDepartment,
    // P6: create in their own department; update the drafts they own, in any department.
    (is('create') || is('update')) && anyRole('sales_rep') && scopes.includes('invoice.write') && type === 'sales' &&
      (is('create') ? sameDepartment && newStatus && newOwner : owns && status === 'draft'),
  ];
  return permits.some(Boolean) ? 'permit' : 'deny';
}

const emptyRecord: Readonly<Record<string, unknown>> = Object.freeze({});

function recordOr(value: unknown): Readonly<Record<string, unknown>> {
  return isRecord(value) ? value : emptyRecord;
}

/**
 * The question a POST /decide body asks when it states the subject (`subject` mode), or
 * undefined when the body is not of that shape.
 */
export function questionFromBody(body: unknown): InvoiceQuestion | undefined {
  if (!isRecord(body) || !isRecord(body['subject']) || !isRecord(body['resource'])) return undefined;
  const subject = body['subject'];
  const resource = body['resource'];
  const type = Object.hasOwn(subject, 'type') ? subject['type'] : 'user';
  if (typeof type !== 'string' || typeof subject['id'] !== 'string' || typeof body['action'] !== 'string' || typeof resource['type'] !== 'string') return undefined;
  return {
    subjectType: type,
    subjectId: subject['id'],
    claims: recordOr(subject['properties']),
    action: body['action'],
    resourceType: resource['type'],
    resource: recordOr(resource['properties']),
    context: recordOr(body['context']),
  };
}

/** Whether the default policy permits `question`; a question the oracle cannot read is not permitted. */
export function permits(question: InvoiceQuestion | undefined): boolean {
  return question !== undefined && expectedDecision(question) === 'permit';
}

/** The actions the default policy's rules name for invoices (a rule listing `*` names none). */
export const invoicePolicyActions: readonly string[] = ['approve', 'create', 'delete', 'read', 'update'];

function text(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

const optionalRecord = (value: unknown) => value === undefined || isRecord(value);

/**
 * The question an AuthZEN 4-tuple (`subject`, `action`, `resource`, `context`) asks, or
 * undefined when it is not of that shape (non-empty `type` and `name` up to 256 characters,
 * `id` up to 1,024, properties and context objects). `subject.properties` play the part of
 * verified claims, as in `subject` mode of /decide; the shipped policies carry no entity data to add.
 */
export function questionFromEvaluation(tuple: unknown): InvoiceQuestion | undefined {
  if (!isRecord(tuple)) return undefined;
  const { subject, action, resource, context } = tuple;
  if (!isRecord(subject) || !isRecord(action) || !isRecord(resource) || !optionalRecord(context)) return undefined;
  const entity = (e: Record<string, unknown>) => text(e['type'], 256) && text(e['id'], 1024) && optionalRecord(e['properties']);
  if (!entity(subject) || !entity(resource) || !text(action['name'], 256) || !optionalRecord(action['properties'])) return undefined;
  return {
    subjectType: subject['type'] as string,
    subjectId: subject['id'] as string,
    claims: recordOr(subject['properties']),
    action: action['name'] as string,
    resourceType: resource['type'] as string,
    resource: recordOr(resource['properties']),
    context: recordOr(context),
  };
}

const tupleKeys = ['subject', 'action', 'resource', 'context'] as const;

/**
 * The questions of an AuthZEN evaluations body, one per item: each key the item gives
 * replaces the top-level default whole. Undefined when the body has no items (it is then one
 * evaluation, `questionFromEvaluation` of the body itself).
 */
export function questionsFromBatch(body: unknown): (InvoiceQuestion | undefined)[] | undefined {
  if (!isRecord(body) || !Array.isArray(body['evaluations']) || body['evaluations'].length === 0) return undefined;
  return body['evaluations'].map((item: unknown) => {
    if (!isRecord(item)) return undefined;
    const merged = Object.fromEntries(tupleKeys.map((key) => [key, Object.hasOwn(item, key) ? item[key] : body[key]]));
    return questionFromEvaluation(merged);
  });
}

/**
 * The decisions an evaluations batch answers: every item's under `execute_all`; under the
 * short-circuit semantics, those up to and including the first deny (`deny_on_first_deny`)
 * or permit (`permit_on_first_permit`).
 */
export function batchAnswers(decisions: readonly boolean[], semantic: unknown): boolean[] {
  const stopAt = semantic === 'deny_on_first_deny' ? false : semantic === 'permit_on_first_permit' ? true : undefined;
  const stop = stopAt === undefined ? -1 : decisions.indexOf(stopAt);
  return stop === -1 ? [...decisions] : decisions.slice(0, stop + 1);
}

/**
 * The question behind one search hit: the search body with the hit in the searched-for place.
 * A candidate carries only what entity data stores for it, which the shipped policies have none of.
 */
export function questionFromSearchHit(kind: 'subject' | 'resource' | 'action', body: unknown, hit: { type: string; id: string } | { name: string }): InvoiceQuestion | undefined {
  if (!isRecord(body)) return undefined;
  const place = kind === 'action' ? { action: hit } : { [kind]: hit };
  return questionFromEvaluation({ ...body, ...place });
}
