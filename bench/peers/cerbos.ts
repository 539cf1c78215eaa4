import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/helpers/free-port.js';
import { start, waitForHttp, type Child } from '../http/processes.js';
import type { WorkloadCase } from '../workload.js';

const version = '0.55.0';
const cacheDir = resolve('.cache/cerbos');
const binary = join(cacheDir, 'node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64');

/**
 * policies/invoices.json as a Cerbos resource policy. Cerbos principals need a role, so a
 * subject without roles is given "user"; the request context (`mfa`) travels as a principal
 * attribute, Cerbos' place for session facts. Cerbos principals have no type, so the subject's
 * travels as the attribute `type` (`user` for every workload subject, as for a subject stating
 * none): P3 and P6 take the id as the owner only for a user, and a null owner or status on a
 * create as none stated, as the shipped rules do.
 */
const cerbosPolicy = `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  version: default
  resource: invoice
  rules:
    - name: P1
      actions: ["*"]
      effect: EFFECT_ALLOW
      roles: ["*"]
      condition: { match: { expr: '"invoice.admin" in P.attr.scopes' } }
    - name: P2
      actions: [read]
      effect: EFFECT_ALLOW
      roles: [accountant, finance_manager]
      condition: { match: { expr: '"invoice.read" in P.attr.scopes && type(R.attr.region) == string && R.attr.region == P.attr.region' } }
    - name: P3-create
      actions: [create]
      effect: EFFECT_ALLOW
      roles: [accountant, finance_manager]
      condition: { match: { expr: '"invoice.write" in P.attr.scopes && R.attr.invoice_type in ["purchase", "credit_note"] && type(R.attr.region) == string && R.attr.region == P.attr.region && (!has(R.attr.status) || type(R.attr.status) == null_type || R.attr.status in ["draft", "submitted"]) && (!has(R.attr.owner) || type(R.attr.owner) == null_type || (P.attr.type == "user" && R.attr.owner == P.id))' } }
    - name: P3-update
      actions: [update]
      effect: EFFECT_ALLOW
      roles: [accountant, finance_manager]
      condition: { match: { expr: '"invoice.write" in P.attr.scopes && R.attr.invoice_type in ["purchase", "credit_note"] && type(R.attr.region) == string && R.attr.region == P.attr.region && R.attr.status in ["draft", "submitted"]' } }
    - name: P4
      actions: [approve]
      effect: EFFECT_ALLOW
      roles: [finance_manager]
      condition: { match: { expr: '"invoice.write" in P.attr.scopes && type(R.attr.region) == string && R.attr.region == P.attr.region && R.attr.status == "submitted" && R.attr.amount <= P.attr.approval_limit && -R.attr.amount <= P.attr.approval_limit' } }
    - name: P5
      actions: [read]
      effect: EFFECT_ALLOW
      roles: [sales_rep]
      condition: { match: { expr: '"invoice.read" in P.attr.scopes && R.attr.invoice_type == "sales" && type(R.attr.department) == string && R.attr.department == P.attr.department' } }
    - name: P6-create
      actions: [create]
      effect: EFFECT_ALLOW
      roles: [sales_rep]
      condition: { match: { expr: '"invoice.write" in P.attr.scopes && R.attr.invoice_type == "sales" && type(R.attr.department) == string && R.attr.department == P.attr.department && (!has(R.attr.status) || type(R.attr.status) == null_type || R.attr.status in ["draft", "submitted"]) && (!has(R.attr.owner) || type(R.attr.owner) == null_type || (P.attr.type == "user" && R.attr.owner == P.id))' } }
    - name: P6-update
      actions: [update]
      effect: EFFECT_ALLOW
      roles: [sales_rep]
      condition: { match: { expr: '"invoice.write" in P.attr.scopes && R.attr.invoice_type == "sales" && P.attr.type == "user" && R.attr.owner == P.id && R.attr.status == "draft"' } }
    - name: D1
      actions: [approve]
      effect: EFFECT_DENY
      roles: ["*"]
      condition: { match: { expr: 'type(R.attr.owner) != string || R.attr.owner.trim() == "" || R.attr.owner.trim().lowerAscii() == P.id.lowerAscii()' } }
    - name: D2
      actions: [update, delete]
      effect: EFFECT_DENY
      roles: ["*"]
      condition: { match: { expr: '!(type(R.attr.status) == string && R.attr.status in ["draft", "submitted", "approved"])' } }
    - name: D3
      actions: [approve]
      effect: EFFECT_DENY
      roles: ["*"]
      condition: { match: { expr: '!(has(P.attr.mfa) && P.attr.mfa == true)' } }
`;

/** The Cerbos CheckResources body for one case. */
export function cerbosRequest(c: WorkloadCase): Record<string, unknown> {
  const { roles, scope, ...attributes } = c.claims;
  const held = Array.isArray(roles) && roles.length > 0 ? roles : ['user'];
  return {
    requestId: c.resource.id,
    principal: { id: c.subjectId, roles: held, attr: { ...attributes, type: 'user', scopes: typeof scope === 'string' ? scope.split(' ') : [], ...c.context } },
    resources: [{ actions: [c.action], resource: { kind: 'invoice', id: c.resource.id, attr: c.resource.properties } }],
  };
}

/** Reads permit or deny from a Cerbos CheckResources answer. */
export function cerbosDecision(body: unknown, action: string): 'permit' | 'deny' | undefined {
  const results = (body as { results?: { actions?: Record<string, string> }[] }).results;
  const effect = results?.[0]?.actions?.[action];
  return effect === undefined ? undefined : effect === 'EFFECT_ALLOW' ? 'permit' : 'deny';
}

/** Installs the Cerbos server from npm into .cache/cerbos unless present; returns why not on failure. */
export function installCerbos(): { ok: true } | { ok: false; reason: string } {
  if (existsSync(binary)) return { ok: true };
  if (process.platform !== 'linux' || process.arch !== 'x64') return { ok: false, reason: `no Cerbos package for ${process.platform}-${process.arch}` };
  const result = spawnSync('npm', ['install', '--prefix', cacheDir, '--no-audit', '--no-fund', '--no-package-lock', `@cerbos/cerbos-linux-x64@${version}`], { encoding: 'utf8', timeout: 180_000 });
  if (result.status !== 0 || !existsSync(binary)) {
    return { ok: false, reason: `npm install @cerbos/cerbos-linux-x64@${version} failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-2).join(' ')}` };
  }
  return { ok: true };
}

/** Starts Cerbos with the invoice policy on a free port (HTTP API). */
export async function startCerbos(workDir: string): Promise<{ child: Child; url: string }> {
  const policyDir = join(workDir, 'cerbos-policies');
  mkdirSync(policyDir, { recursive: true });
  writeFileSync(join(policyDir, 'invoice.yaml'), cerbosPolicy);
  const http = await freePort();
  const grpc = await freePort();
  const config = join(workDir, 'cerbos.yaml');
  writeFileSync(config, [
    'server:',
    `  httpListenAddr: "127.0.0.1:${http}"`,
    `  grpcListenAddr: "127.0.0.1:${grpc}"`,
    'storage:',
    '  driver: disk',
    '  disk:',
    `    directory: ${JSON.stringify(policyDir)}`,
    '    watchForChanges: false',
    'audit:',
    '  enabled: false',
    'telemetry:',
    '  disabled: true',
    '',
  ].join('\n'));
  const { child } = await start(binary, ['server', `--config=${config}`, '--log-level=error'], { env: { CERBOS_NO_TELEMETRY: '1' } });
  const url = `http://127.0.0.1:${http}`;
  try {
    await waitForHttp(`${url}/_cerbos/health`, 20_000, () => child.process.exitCode === null);
  } catch (error) {
    await child.stop();
    throw new Error(`cerbos did not start: ${(error as Error).message}\n${child.stderrTail()}`);
  }
  return { child, url };
}
