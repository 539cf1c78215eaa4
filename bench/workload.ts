/**
 * The mixed invoice workload every benchmark runs: permits and denies, and both sides of every
 * rule in policies/invoices.json. Each case states the decision it must get, so a benchmark that
 * measures a wrong answer fails instead of reporting a number.
 */
export type Claims = Readonly<Record<string, unknown>>;

export interface WorkloadCase {
  readonly name: string;
  readonly subjectId: string;
  /** Token-style claims: `roles`, `scope` (space-separated) and attributes. */
  readonly claims: Claims;
  readonly action: string;
  readonly resource: { readonly id: string; readonly properties: Readonly<Record<string, string | number>> };
  readonly context: Readonly<Record<string, boolean>>;
  readonly expect: 'permit' | 'deny';
  /** The rule that decides, or `none` for a default deny. */
  readonly rule: string;
}

const accountantEU = { roles: ['accountant'], scope: 'invoice.read invoice.write', region: 'EU', department: 'finance' };
const managerEU = { roles: ['finance_manager'], scope: 'invoice.read invoice.write', region: 'EU', department: 'finance', approval_limit: 10_000 };
const salesNorth = { roles: ['sales_rep'], scope: 'invoice.read invoice.write', region: 'EU', department: 'sales-north' };
const admin = { roles: [] as string[], scope: 'invoice.admin', region: 'US', department: 'it' };
const guest = { roles: ['guest'], scope: 'profile', region: 'EU', department: 'finance' };

function invoice(id: string, properties: Record<string, string | number>) {
  return { id, properties: { invoice_type: 'purchase', department: 'finance', region: 'EU', amount: 5_000, owner: 'u-other', status: 'submitted', ...properties } };
}

export const workload: readonly WorkloadCase[] = [
  { name: 'accountant reads own-region purchase', subjectId: 'u-acc', claims: accountantEU, action: 'read', resource: invoice('i1', {}), context: {}, expect: 'permit', rule: 'P2' },
  { name: 'accountant reads other-region credit note', subjectId: 'u-acc', claims: accountantEU, action: 'read', resource: invoice('i2', { invoice_type: 'credit_note', region: 'US' }), context: {}, expect: 'deny', rule: 'none' },
  { name: 'accountant creates purchase', subjectId: 'u-acc', claims: accountantEU, action: 'create', resource: invoice('i3', { status: 'draft', owner: 'u-acc' }), context: {}, expect: 'permit', rule: 'P3' },
  { name: 'accountant updates draft credit note', subjectId: 'u-acc', claims: accountantEU, action: 'update', resource: invoice('i4', { invoice_type: 'credit_note', status: 'draft' }), context: {}, expect: 'permit', rule: 'P3' },
  { name: 'accountant updates approved purchase', subjectId: 'u-acc', claims: accountantEU, action: 'update', resource: invoice('i5', { status: 'approved' }), context: {}, expect: 'deny', rule: 'none' },
  { name: 'accountant updates paid purchase', subjectId: 'u-acc', claims: accountantEU, action: 'update', resource: invoice('i6', { status: 'paid' }), context: {}, expect: 'deny', rule: 'D2' },
  { name: 'manager approves within limit with mfa', subjectId: 'u-fm', claims: managerEU, action: 'approve', resource: invoice('i7', {}), context: { mfa: true }, expect: 'permit', rule: 'P4' },
  { name: 'manager approves without mfa', subjectId: 'u-fm', claims: managerEU, action: 'approve', resource: invoice('i8', {}), context: {}, expect: 'deny', rule: 'D3' },
  { name: 'manager approves own invoice', subjectId: 'u-fm', claims: managerEU, action: 'approve', resource: invoice('i9', { owner: 'u-fm' }), context: { mfa: true }, expect: 'deny', rule: 'D1' },
  { name: 'manager approves over limit', subjectId: 'u-fm', claims: managerEU, action: 'approve', resource: invoice('i10', { amount: 20_000 }), context: { mfa: true }, expect: 'deny', rule: 'none' },
  { name: 'manager reads own-region sales invoice', subjectId: 'u-fm', claims: managerEU, action: 'read', resource: invoice('i11', { invoice_type: 'sales' }), context: {}, expect: 'permit', rule: 'P2' },
  { name: 'sales rep reads own-department sales', subjectId: 'u-sales', claims: salesNorth, action: 'read', resource: invoice('i12', { invoice_type: 'sales', department: 'sales-north' }), context: {}, expect: 'permit', rule: 'P5' },
  { name: 'sales rep reads own-department purchase', subjectId: 'u-sales', claims: salesNorth, action: 'read', resource: invoice('i13', { department: 'sales-north' }), context: {}, expect: 'deny', rule: 'none' },
  { name: 'sales rep creates sales invoice', subjectId: 'u-sales', claims: salesNorth, action: 'create', resource: invoice('i14', { invoice_type: 'sales', department: 'sales-north', status: 'draft', owner: 'u-sales' }), context: {}, expect: 'permit', rule: 'P6' },
  { name: 'sales rep updates own draft', subjectId: 'u-sales', claims: salesNorth, action: 'update', resource: invoice('i15', { invoice_type: 'sales', department: 'sales-north', status: 'draft', owner: 'u-sales' }), context: {}, expect: 'permit', rule: 'P6' },
  { name: 'sales rep updates a colleague\'s draft', subjectId: 'u-sales', claims: salesNorth, action: 'update', resource: invoice('i16', { invoice_type: 'sales', department: 'sales-north', status: 'draft' }), context: {}, expect: 'deny', rule: 'none' },
  { name: 'sales rep approves', subjectId: 'u-sales', claims: salesNorth, action: 'approve', resource: invoice('i17', { invoice_type: 'sales', department: 'sales-north' }), context: { mfa: true }, expect: 'deny', rule: 'none' },
  { name: 'admin deletes draft', subjectId: 'u-admin', claims: admin, action: 'delete', resource: invoice('i18', { status: 'draft' }), context: {}, expect: 'permit', rule: 'P1' },
  { name: 'admin deletes paid', subjectId: 'u-admin', claims: admin, action: 'delete', resource: invoice('i19', { status: 'paid' }), context: {}, expect: 'deny', rule: 'D2' },
  { name: 'admin approves with mfa', subjectId: 'u-admin', claims: admin, action: 'approve', resource: invoice('i20', {}), context: { mfa: true }, expect: 'permit', rule: 'P1' },
  { name: 'admin approves own invoice', subjectId: 'u-admin', claims: admin, action: 'approve', resource: invoice('i21', { owner: 'u-admin' }), context: { mfa: true }, expect: 'deny', rule: 'D1' },
  { name: 'guest reads', subjectId: 'u-guest', claims: guest, action: 'read', resource: invoice('i22', {}), context: {}, expect: 'deny', rule: 'none' },
];

/** The `/decide` body for a case with a pre-verified subject. */
export function decideBody(c: WorkloadCase): Record<string, unknown> {
  return { subject: { id: c.subjectId, properties: c.claims }, action: c.action, resource: { type: 'invoice', id: c.resource.id, properties: c.resource.properties }, context: c.context };
}

/** The `/decide` body for a case carrying a token instead. */
export function decideTokenBody(c: WorkloadCase, token: string): Record<string, unknown> {
  return { token, action: c.action, resource: { type: 'invoice', id: c.resource.id, properties: c.resource.properties }, context: c.context };
}

/** One AuthZEN evaluation request for a case. */
export function authzenEvaluation(c: WorkloadCase): Record<string, unknown> {
  return {
    subject: { type: 'user', id: c.subjectId, properties: c.claims },
    action: { name: c.action },
    resource: { type: 'invoice', id: c.resource.id, properties: c.resource.properties },
    context: c.context,
  };
}

/** Cases whose names are distinct subjects, for one token each. */
export function subjects(): { id: string; claims: Claims }[] {
  const seen = new Map<string, Claims>();
  for (const c of workload) seen.set(c.subjectId, c.claims);
  return [...seen].map(([id, claims]) => ({ id, claims }));
}
