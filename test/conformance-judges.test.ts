import { describe, expect, it } from 'vitest';
import { judgeCertification, type CertificationCase } from '../scripts/conformance/certification.js';
import { judgeEvaluation, judgeEvaluations, judgeSearch } from '../scripts/conformance/judge.js';

describe('conformance judges, as strict as the official runners', () => {
  it('evaluation: a JSON boolean decision; a string, a missing decision or null fail', () => {
    expect(judgeEvaluation({ decision: true, context: {} }, true)).toBe(true);
    expect(judgeEvaluation({ decision: false }, false)).toBe(true);
    expect(judgeEvaluation({ title: 'error' }, false)).toBe(true);
    expect(judgeEvaluation({ decision: 'true' }, true)).toBe(false);
    expect(judgeEvaluation({}, true)).toBe(false);
    expect(() => judgeEvaluation(null, true)).toThrow();
  });

  it('evaluations: items exactly {decision}; a context key fails', () => {
    expect(judgeEvaluations({ evaluations: [{ decision: true }, { decision: false }] }, [{ decision: true }, { decision: false }])).toBe(true);
    expect(judgeEvaluations({ evaluations: [{ decision: true, context: {} }] }, [{ decision: true }])).toBe(false);
    expect(judgeEvaluations({ evaluations: [{ decision: true }] }, [{ decision: true }, { decision: true }])).toBe(false);
  });

  it('search: order-free, but key order, extra keys and number ids fail', () => {
    const expected = { results: [{ type: 'record', id: '101' }, { type: 'record', id: '102' }] };
    expect(judgeSearch({ results: [{ type: 'record', id: '102' }, { type: 'record', id: '101' }], page: { next_token: '' } }, expected)).toBe(true);
    expect(judgeSearch({ results: [{ id: '101', type: 'record' }, { id: '102', type: 'record' }] }, expected)).toBe(false);
    expect(judgeSearch({ results: [{ type: 'record', id: '101', properties: {} }, { type: 'record', id: '102' }] }, expected)).toBe(false);
    expect(() => judgeSearch({ results: [{ type: 'record', id: 101 }, { type: 'record', id: 102 }] }, expected)).toThrow();
    expect(judgeSearch({ results: [{ name: 'view' }, { name: 'edit' }] }, { results: [{ name: 'edit' }, { name: 'view' }] })).toBe(true);
  });

  it('certification: status first, then the one expectation the case states', () => {
    const base = { id: 'c', label: 'l', method: 'POST', endpoint: '/access/v1/search/subject', headers: {}, request: {} };
    const include: CertificationCase = { ...base, expected: { status: 200, results_must_include: [{ type: 'user', id: 'bob' }], extra_results_allowed: true } };
    expect(judgeCertification(include, 200, { results: [{ type: 'user', id: 'alice' }, { type: 'user', id: 'bob' }] })).toBeUndefined();
    expect(judgeCertification(include, 200, { results: [{ type: 'user', id: 'alice' }] })).toMatch(/lack/);
    expect(judgeCertification(include, 400, {})).toMatch(/status/);
    const exact: CertificationCase = { ...base, expected: { status: 200, results_exact: [] } };
    expect(judgeCertification(exact, 200, { results: [{ type: 'user', id: 'alice' }] })).toMatch(/unexpected/);
    const exactBob: CertificationCase = { ...base, expected: { status: 200, results_exact: [{ type: 'user', id: 'bob' }] } };
    expect(judgeCertification(exactBob, 200, { results: [{ type: 'user', id: 'bob' }] })).toBeUndefined();
    expect(judgeCertification(exactBob, 200, { results: [{ type: 'user', id: 'bob' }, { type: 'user', id: 'bob' }] })).toMatch(/unexpected results \{"type":"user","id":"bob"\}/);
    const onlyBob: CertificationCase = { ...base, expected: { status: 200, results_must_include: [{ type: 'user', id: 'bob' }], extra_results_allowed: false } };
    expect(judgeCertification(onlyBob, 200, { results: [{ type: 'user', id: 'bob' }, { type: 'user', id: 'bob' }] })).toMatch(/unexpected/);
    const batch: CertificationCase = { ...base, endpoint: '/access/v1/evaluations', expected: { status: 200, evaluations: [{ decision: true }, { decision: false }] } };
    expect(judgeCertification(batch, 200, { evaluations: [{ decision: true }, { decision: false, context: {} }] })).toBeUndefined();
    expect(judgeCertification(batch, 200, { evaluations: [{ decision: true }] })).toMatch(/decisions/);
    const paged: CertificationCase = { ...base, expected: { status: 200, structure_only: true } };
    expect(judgeCertification(paged, 200, { results: [], page: { next_token: 5 } })).toMatch(/next_token/);
  });
});
