import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { DecisionService } from '../decision/service.js';
import type { PolicyStore } from '../policy/store.js';
import type { AppEnv } from './env.js';
import { bodySizeLimit } from './middleware/body-limit.js';
import { requestId } from './middleware/request-id.js';
import { problem, ProblemError } from './problem.js';
import { decideRoutes } from './routes/decide.js';
import { healthRoutes } from './routes/health.js';

export interface AppDeps {
  readonly decisions: DecisionService;
  readonly policies: PolicyStore;
  /** Largest accepted request body, bytes. */
  readonly maxBodyBytes?: number;
  readonly onUnexpectedError?: (error: unknown, requestId: string | undefined) => void;
}

/** Builds the HTTP application; every dependency is passed in, nothing is built per request. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const maxBodyBytes = deps.maxBodyBytes ?? 1024 * 1024;
  const app = new Hono<AppEnv>();

  app.use(requestId());
  app.use(
    bodySizeLimit({
      maxSize: maxBodyBytes,
      onError: (c) => problem(c, new ProblemError('payload_too_large', `body larger than ${maxBodyBytes} bytes`)),
    }),
  );

  app.route('/', healthRoutes(deps.policies));
  app.route('/', decideRoutes(deps.decisions));

  app.notFound((c) => problem(c, new ProblemError('not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((error, c) => {
    if (error instanceof ProblemError) return problem(c, error);
    if (error instanceof HTTPException && error.status < 500) {
      return problem(c, new ProblemError('invalid_request', error.message || 'bad request'));
    }
    deps.onUnexpectedError?.(error, c.get('requestId'));
    return problem(c, new ProblemError('internal', 'the request could not be completed'));
  });
  return app;
}
