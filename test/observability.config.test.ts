import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { configSummary } from '../src/config-summary.js';
import { defaultAuditRedact, defaultMaxRequestBytes } from '../src/telemetry/audit.js';

describe('observability settings', () => {
  it('default to auditing every decision with personal data masked and /metrics open', () => {
    const config = loadConfig({});
    expect(config.AUDIT_DECISIONS).toBe('all');
    expect(config.AUDIT_LOG_FILE).toBeUndefined();
    expect(config.AUDIT_REDACT).toEqual(defaultAuditRedact);
    expect(config.AUDIT_REDACT).toContain('subject.properties.email');
    expect(config.AUDIT_MAX_REQUEST_BYTES).toBe(defaultMaxRequestBytes);
    expect(defaultMaxRequestBytes).toBe(4 * 1024 * 1024);
    expect(config.METRICS_TOKEN).toBeUndefined();
  });

  it('read AUDIT_REDACT as a comma-separated list of paths', () => {
    const config = loadConfig({ AUDIT_REDACT: 'subject.properties.ssn, resource.properties.*.iban,context.x-real-ip', AUDIT_DECISIONS: 'deny' });
    expect(config.AUDIT_REDACT).toEqual(['subject.properties.ssn', 'resource.properties.*.iban', 'context.x-real-ip']);
    expect(config.AUDIT_DECISIONS).toBe('deny');
  });

  it('mask nothing only when told so by none, and refuse a list of commas alone, which would say it by accident', () => {
    expect(loadConfig({ AUDIT_REDACT: 'none' }).AUDIT_REDACT).toEqual([]);
    expect(() => loadConfig({ AUDIT_REDACT: ', ,' })).toThrow(/AUDIT_REDACT: lists no path, only commas and spaces/);
  });

  it('read a key holding dots in brackets, as a namespaced claim needs, and refuse a bracket left open', () => {
    const path = 'subject.properties["https://invoice.example.com/email"]';
    expect(loadConfig({ AUDIT_REDACT: `${path},context["x.y"].z` }).AUDIT_REDACT).toEqual([path, 'context["x.y"].z']);
    // A JSON string: a key holding a quote or a backslash is written escaped.
    expect(loadConfig({ AUDIT_REDACT: String.raw`context["say \"hi\""],context["C:\\dir"]` }).AUDIT_REDACT).toEqual([String.raw`context["say \"hi\""]`, String.raw`context["C:\\dir"]`]);
    expect(() => loadConfig({ AUDIT_REDACT: 'subject.properties["https://invoice.example.com/email' })).toThrow(/AUDIT_REDACT/);
    // Refused as a setting, with the others: not a JSON string (a bad escape, a raw tab), it stopped the start with a parse error.
    for (const key of [String.raw`"\u12"`, String.raw`"\x41"`, '"a\tb"']) {
      const error = (() => { try { loadConfig({ AUDIT_REDACT: `context[${key}]`, AUDIT_DECISIONS: 'some' }); } catch (e) { return e; } })();
      expect(error, key).toBeInstanceOf(ConfigError);
      expect(String(error)).toMatch(/AUDIT_REDACT: entry 1: a dotted path under subject/);
      expect(String(error)).toMatch(/AUDIT_DECISIONS/);
    }
  });

  it('refuse a root alone, with no key under it', () => {
    for (const root of ['subject', 'context']) {
      expect(() => loadConfig({ AUDIT_REDACT: root })).toThrow(/AUDIT_REDACT: entry 1: a dotted path under subject, action, resource or context/);
    }
  });

  it('refuse a path under any other root: a misspelt one would mask nothing and leave the value in the line', () => {
    for (const path of ['subjects.properties.email', 'properties.email', '.email', 'request.context.ip']) {
      expect(() => loadConfig({ AUDIT_REDACT: path }), path).toThrow(/AUDIT_REDACT: entry 1: a dotted path under subject, action, resource or context/);
    }
  });

  it('report every bad setting at once', () => {
    let error: unknown;
    try {
      loadConfig({ AUDIT_DECISIONS: 'some', AUDIT_REDACT: 'email,subject..x', METRICS_TOKEN: 'short' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = String((error as Error).message);
    expect(message).toMatch(/AUDIT_DECISIONS/);
    expect(message).toMatch(/AUDIT_REDACT: entry 1: a dotted path/);
    expect(message).toMatch(/AUDIT_REDACT: entry 2: a dotted path/);
    expect(message).toMatch(/METRICS_TOKEN: use at least 16 characters/);
  });
});

describe('startup configuration summary', () => {
  it('hides secrets, caller keys, passwords and URL credentials (in lists too), and shows everything else as configured', () => {
    const summary = configSummary({
      PORT: 8080,
      JWT_ISSUER: 'https://idp.example.com',
      JWT_AUDIENCE: ['invoice-api', 'https://aud-user:aud-pass@api.example.com'],
      METRICS_TOKEN: 'metrics-secret-value',
      INTROSPECTION_CLIENT_SECRET: 'client-secret-value',
      PDP_API_KEYS: ['api-key-0123456789abcdef'],
      PDP_TRUSTED_KEYS: ['trusted-key-0123456789abcdef'],
      PDP_ADMIN_KEYS: ['admin-key-0123456789abcdef'],
      REDIS_PASSWORD: 'redis-node-pass',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pass',
      REDIS_URL: 'redis://default:redis-pass@cache:6379/0',
      JWKS_URL: 'https://idp.example.com/jwks?api_key=query-secret',
      INTROSPECTION_URL: 'https://tok-3f9a@idp.example.com/introspect?v=2&bare-secret#frag-secret',
      AUDIT_LOG_FILE: undefined,
    });
    expect(summary).toEqual({
      PORT: 8080,
      JWT_ISSUER: 'https://idp.example.com',
      JWT_AUDIENCE: ['invoice-api', 'https://aud-user:***@api.example.com/'],
      METRICS_TOKEN: '[hidden]',
      INTROSPECTION_CLIENT_SECRET: '[hidden]',
      PDP_API_KEYS: '[hidden]',
      PDP_TRUSTED_KEYS: '[hidden]',
      PDP_ADMIN_KEYS: '[hidden]',
      REDIS_PASSWORD: '[hidden]',
      REDIS_SENTINEL_PASSWORD: '[hidden]',
      REDIS_URL: 'redis://default:***@cache:6379/0',
      JWKS_URL: 'https://idp.example.com/jwks?api_key=***',
      INTROSPECTION_URL: 'https://***@idp.example.com/introspect?v=***&***#***',
    });
  });
});
