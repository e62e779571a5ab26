import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { errorResponse } from './errors.js';
import { retryAfterOf } from './wire/answer.js';
import { VERSION } from '../version.js';

/** /healthz: the process answers, and says which release it runs. /readyz: it can also reach its store. */
export function healthRoutes(ready: () => Promise<void>): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok', version: VERSION }, 200, { 'cache-control': 'no-store' }));
  app.get('/readyz', async (c) => {
    try {
      await ready();
      return c.json({ status: 'ready' }, 200, { 'cache-control': 'no-store' });
    } catch (err) {
      const message = err instanceof IdbridgeError ? err.message : 'the store is not reachable';
      const retryAfter = retryAfterOf(err);
      return errorResponse(c, new IdbridgeError('not_ready', `not ready: ${message}`, [], retryAfter !== undefined ? { retryAfter } : {}), { 'cache-control': 'no-store' });
    }
  });
  return app;
}
