import { preparsePolicySet, statefulIsAuthorized, type StatefulAuthorizationCall } from '@cedar-policy/cedar-wasm/nodejs';
import type { WorkloadCase } from '../workload.js';

/**
 * policies/invoices.json in Cedar. Cedar has no subject id attribute, so the subject's id is
 * also given as `principal.sub`; roles and scopes are sets on the principal. D1 and D2 deny when
 * the attribute they read is missing, as the shipped rules do; without a schema Cedar has no
 * test of an attribute's type, which the shipped rules also make (`type(…) != string`, and a
 * region or department compared only when it is a string), nor a null to compare: its entity
 * data refuses a null attribute, and the workload sends none, so P3 and P6 read a create's owner
 * and status as stated or not by `has` alone (the shipped rules take a null one as not stated).
 * Nor has it a function to fold case or trim, so D1 compares owners exactly: the workload's owners are
 * written as the subjects' ids are. P3 and P6 take the id as the owner only for a principal of
 * entity type User, the shipped rules' `subject.type == "user"`; the workload has no aliases.
 */
const cedarPolicies = `
@id("P1") permit (principal, action, resource is Invoice)
  when { principal.scopes.contains("invoice.admin") };
@id("P2") permit (principal, action == Action::"read", resource is Invoice)
  when { principal.roles.containsAny(["accountant", "finance_manager"]) && principal.scopes.contains("invoice.read")
         && resource.region == principal.region };
@id("P3") permit (principal, action in [Action::"create", Action::"update"], resource is Invoice)
  when { principal.roles.containsAny(["accountant", "finance_manager"]) && principal.scopes.contains("invoice.write")
         && ["purchase", "credit_note"].contains(resource.invoice_type) && resource.region == principal.region
         && ((action == Action::"create" && !(resource has status)) || ["draft", "submitted"].contains(resource.status))
         && (action != Action::"create" || !(resource has owner) || (principal is User && resource.owner == principal.sub)) };
@id("P4") permit (principal, action == Action::"approve", resource is Invoice)
  when { principal.roles.contains("finance_manager") && principal.scopes.contains("invoice.write")
         && resource.region == principal.region && resource.status == "submitted"
         && principal has approval_limit && resource.amount <= principal.approval_limit
         && -resource.amount <= principal.approval_limit };
@id("P5") permit (principal, action == Action::"read", resource is Invoice)
  when { principal.roles.contains("sales_rep") && principal.scopes.contains("invoice.read")
         && resource.invoice_type == "sales" && resource.department == principal.department };
@id("P6") permit (principal, action in [Action::"create", Action::"update"], resource is Invoice)
  when { principal.roles.contains("sales_rep") && principal.scopes.contains("invoice.write")
         && resource.invoice_type == "sales"
         && ((action == Action::"create" && resource.department == principal.department
              && (!(resource has status) || ["draft", "submitted"].contains(resource.status))
              && (!(resource has owner) || (principal is User && resource.owner == principal.sub)))
             || (principal is User && resource.owner == principal.sub && resource.status == "draft")) };
@id("D1") forbid (principal, action == Action::"approve", resource is Invoice)
  when { !(resource has owner) || resource.owner == "" || resource.owner == principal.sub };
@id("D2") forbid (principal, action in [Action::"update", Action::"delete"], resource is Invoice)
  when { !(resource has status) || !["draft", "submitted", "approved"].contains(resource.status) };
@id("D3") forbid (principal, action == Action::"approve", resource is Invoice)
  unless { context has mfa && context.mfa == true };
`;

const policySetId = 'invoices';

/** Parses the Cedar policies once, as a long-running Cedar service would. */
export function prepareCedar(): void {
  const parsed = preparsePolicySet(policySetId, { staticPolicies: cedarPolicies });
  if (parsed.type !== 'success') throw new Error(`cedar policies: ${JSON.stringify(parsed.errors)}`);
}

/** The authorization call for one case: principal and resource as entities, mfa in context. */
export function cedarCall(c: WorkloadCase): StatefulAuthorizationCall {
  const { roles, scope, ...attributes } = c.claims;
  return {
    principal: { type: 'User', id: c.subjectId },
    action: { type: 'Action', id: c.action },
    resource: { type: 'Invoice', id: c.resource.id },
    context: c.context,
    preparsedPolicySetId: policySetId,
    entities: [
      {
        uid: { type: 'User', id: c.subjectId },
        attrs: { ...(attributes as Record<string, string | number>), sub: c.subjectId, roles: roles as string[], scopes: typeof scope === 'string' ? scope.split(' ') : [] },
        parents: [],
      },
      { uid: { type: 'Invoice', id: c.resource.id }, attrs: { ...c.resource.properties }, parents: [] },
    ],
  };
}

/** One Cedar decision, as permit or deny. */
export function cedarDecide(call: StatefulAuthorizationCall): 'permit' | 'deny' {
  const answer = statefulIsAuthorized(call);
  if (answer.type !== 'success') throw new Error(`cedar: ${JSON.stringify(answer.errors)}`);
  return answer.response.decision === 'allow' ? 'permit' : 'deny';
}
