import { expect } from 'vitest';

/** What the service said, read once: status, media type and parsed body. */
export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly requestId: string | null;
  readonly body: Record<string, unknown>;
}

/** Reads a response whatever it holds; a body that is not JSON fails the test. */
export async function readAnswer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`status ${res.status}: body is not JSON: ${text.slice(0, 200)}`);
  }
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    requestId: res.headers.get('x-request-id'),
    body: body as Record<string, unknown>,
  };
}

/**
 * The contract every answer keeps: never a 5xx; every 4xx an RFC 9457 problem whose
 * status, request id and JSON paths are consistent; every 200 from a decision endpoint
 * a permit or deny.
 */
export function expectWellFormed(answer: Answer, options: { decision?: boolean } = {}): void {
  expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500);
  if (answer.status >= 400) {
    expect(answer.contentType).toBe('application/problem+json');
    expect(answer.body).toMatchObject({ status: answer.status, type: expect.stringMatching(/^urn:invoice-pdp:problem:[a-z_]+$/), title: expect.any(String), detail: expect.any(String) });
    expect(answer.body['requestId']).toBe(answer.requestId);
    const errors = answer.body['errors'];
    if (errors !== undefined) {
      expect(Array.isArray(errors)).toBe(true);
      for (const error of errors as { path: unknown }[]) expect(error.path).toMatch(/^\$/);
    }
    return;
  }
  expect(answer.status).toBe(200);
  if (options.decision === true) {
    expect(['permit', 'deny']).toContain(answer.body['decision']);
    expect(Array.isArray(answer.body['reasons'])).toBe(true);
    expect(typeof answer.body['decisionId']).toBe('string');
  }
}
