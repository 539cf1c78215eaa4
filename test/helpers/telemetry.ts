import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { DecisionRecorder } from '../../src/decision/record.js';
import { countRejections } from '../../src/http/rejections.js';
import { AuditLog, type AuditLogOptions, type AuditSink } from '../../src/telemetry/audit.js';
import { PdpMetrics } from '../../src/telemetry/metrics.js';
import { telemetryRecorder } from '../../src/telemetry/recorder.js';
import { createJwtVerifier, type TokenVerifier } from '../../src/token/verify.js';
import { buildTestApp, type TestAppOptions } from './app.js';

/** An audit sink that keeps every line in memory, one entry per line (a write may hold several). */
export function memorySink(): AuditSink & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (chunk) => void lines.push(...chunk.split(/(?<=\n)/)) };
}

export interface ObservedAppOptions extends TestAppOptions {
  readonly audit?: Partial<AuditLogOptions>;
  readonly metricsToken?: string;
}

/**
 * The test app with metrics, /metrics and an audit log writing to memory (or the given sink),
 * problems counted as main.ts counts them.
 */
export async function buildObservedApp(options: ObservedAppOptions = {}) {
  const metrics = new PdpMetrics();
  const sink = memorySink();
  const audit = new AuditLog({ sink, ...options.audit });
  const recorder: DecisionRecorder = telemetryRecorder(metrics, audit);
  const built = await buildTestApp({ ...options, recorder, app: { metrics, metricsToken: options.metricsToken, onProblem: countRejections(metrics), ...options.app } });
  return { ...built, metrics, audit, sink };
}

/** Lets queued audit lines be written (they go out after the current turn of the event loop). */
export function auditSettled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The audit lines written once the queue is drained, parsed. A drain writes lines for one slice
 * of time and leaves the rest to a later turn, which a loaded machine can make come after one
 * turn: turns are awaited until one writes nothing (each drain writes at least one line).
 */
export async function auditEntries(sink: { readonly lines: readonly string[] }): Promise<Record<string, unknown>[]> {
  let seen: number;
  do {
    seen = sink.lines.length;
    await auditSettled();
  } while (sink.lines.length !== seen);
  return sink.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
}

type Requester = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

/** GET /metrics as text. */
export async function scrape(app: Requester, token?: string): Promise<string> {
  const res = await app.request('/metrics', token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The value of one series in Prometheus text, or undefined when the series is absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.length === have.size && wanted.every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

/** Every label value of `label` on series of metric `name`. */
export function labelValues(text: string, name: string, label: string): Set<string> {
  const values = new Set<string>();
  const pattern = new RegExp(`^${name}\\{[^}]*\\b${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (match?.[1] !== undefined) values.add(match[1]);
  }
  return values;
}

/** A real ES256 key pair, a verifier pinned to it and a function that signs tokens with it (issuer https://idp.test, audience invoice-api). */
export async function jwtIssuer() {
  const issuer = 'https://idp.test';
  const audience = 'invoice-api';
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
  const tokens: TokenVerifier = createJwtVerifier({
    keys: createLocalJWKSet({ keys: [jwk] }),
    issuer,
    audience: [audience],
    algorithms: ['ES256'],
  });
  const sign = (claims: Record<string, unknown>, subject: string) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  return { tokens, sign, jwks: { keys: [jwk] } };
}
