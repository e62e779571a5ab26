import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { VERSION } from '../version.js';
import { mountRoute } from './hono-route.js';
import { jsonErrorAnswer, type PlainAnswer, type RouteDescriptor } from './route.js';
import { retryAfterOf } from './wire/answer.js';

const NO_STORE = { 'cache-control': 'no-store' };

/** /healthz: the process answers, and says which release it runs. /readyz: it can also reach its store. */
export function healthRoute(ready: () => Promise<void>): RouteDescriptor<'healthz' | 'readyz'> {
  return {
    name: 'health',
    paths: ['/healthz', '/readyz'],
    match: (path) => (path === '/healthz' ? 'healthz' : path === '/readyz' ? 'readyz' : null),
    methods: ['GET', 'HEAD'],
    bodyCap: 0,
    shape: 'idbridge',
    decide: (request) =>
      request.params === 'healthz' ? json({ status: 'ok', version: VERSION }) : readiness(ready),
    tooLarge: () =>
      jsonErrorAnswer(new IdbridgeError('payload_too_large', 'health checks take no body')),
    // readiness answers every failure itself; anything else is not the caller's to fix.
    fail: () =>
      jsonErrorAnswer(
        new IdbridgeError('internal', 'internal error; the server log has the details'),
      ),
    fast: false,
  };
}

async function readiness(ready: () => Promise<void>): Promise<PlainAnswer> {
  try {
    await ready();
    return json({ status: 'ready' });
  } catch (err) {
    const message = err instanceof IdbridgeError ? err.message : 'the store is not reachable';
    const retryAfter = retryAfterOf(err);
    return jsonErrorAnswer(
      new IdbridgeError(
        'not_ready',
        `not ready: ${message}`,
        [],
        retryAfter !== undefined ? { retryAfter } : {},
      ),
      NO_STORE,
    );
  }
}

function json(body: unknown): PlainAnswer {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', ...NO_STORE },
    body: JSON.stringify(body),
  };
}

/** The health routes as a hono app, generated from the descriptor. */
export function healthRoutes(ready: () => Promise<void>): Hono {
  const app = new Hono();
  mountRoute(app, healthRoute(ready));
  return app;
}
