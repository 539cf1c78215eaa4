import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { DecisionService } from '../decision/service.js';
import type { PolicyStore } from '../policy/store.js';
import type { AppEnv } from './env.js';
import { requestId } from './middleware/request-id.js';
import { requestTimeout } from './middleware/timeout.js';
import { problem, ProblemError, type ProblemCode } from './problem.js';
import { decideRoutes } from './routes/decide.js';
import { healthRoutes } from './routes/health.js';

export interface AppDeps {
  readonly decisions: DecisionService;
  readonly policies: PolicyStore;
  /** Largest accepted request body, bytes. */
  readonly maxBodyBytes?: number;
  readonly onUnexpectedError?: (error: unknown, requestId: string | undefined) => void;
  /** Longest a request may take before it is answered 503 `timeout`, ms. */
  readonly requestTimeoutMs?: number;
  /** Called once for every problem answered (400 … 503): a hook for a rejection counter. */
  readonly onProblem?: (code: ProblemCode) => void;
}

/** Builds the HTTP application; every dependency is passed in, nothing is built per request. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const maxBodyBytes = deps.maxBodyBytes ?? 1024 * 1024;
  const app = new Hono<AppEnv>();
  const reject: typeof problem = (c, error) => {
    deps.onProblem?.(error.code);
    return problem(c, error);
  };

  app.use(requestId());
  app.use(requestTimeout(deps.requestTimeoutMs ?? 5_000));
  app.use(
    bodyLimit({
      maxSize: maxBodyBytes,
      // The rest of the body is still on its way: close rather than leave the connection to a race.
      onError: (c) => reject(c, new ProblemError('payload_too_large', `body larger than ${maxBodyBytes} bytes`, undefined, { connection: 'close' })),
    }),
  );

  app.route('/', healthRoutes(deps.policies));
  app.route('/', decideRoutes(deps.decisions));

  app.notFound((c) => reject(c, new ProblemError('not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (error instanceof ProblemError) return reject(c, error);
    if (error instanceof HTTPException && error.status < 500) {
      return reject(c, new ProblemError('invalid_request', error.message || 'bad request'));
    }
    deps.onUnexpectedError?.(error, c.get('requestId'));
    return reject(c, new ProblemError('internal', 'the request could not be completed'));
  });
  return app;
}
