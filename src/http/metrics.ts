import type { Registry } from 'prom-client';
import { IdbridgeError } from '../errors.js';
import { jsonErrorAnswer, type RouteDescriptor } from './route.js';

/** `/metrics`: the registry as Prometheus text, never cached. */
export function metricsRoute(registry: Registry): RouteDescriptor<true> {
  return {
    name: 'metrics',
    paths: ['/metrics'],
    match: (path) => (path === '/metrics' ? true : null),
    methods: ['GET', 'HEAD'],
    bodyCap: 0,
    shape: 'idbridge',
    decide: async () => ({
      status: 200,
      headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
      body: await registry.metrics(),
    }),
    tooLarge: () => jsonErrorAnswer(new IdbridgeError('payload_too_large', 'metrics take no body')),
    fail: () =>
      jsonErrorAnswer(
        new IdbridgeError('internal', 'internal error; the server log has the details'),
      ),
    fast: false,
  };
}
