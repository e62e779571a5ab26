import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { IdbridgeError } from '../../src/errors.js';
import { healthRoute } from '../../src/http/health.js';
import { metricsRoute } from '../../src/http/metrics.js';
import type { RouteDescriptor } from '../../src/http/route.js';

function get<P>(route: RouteDescriptor<P>, path: string) {
  const params = route.match(path);
  if (params === null) throw new Error(`${route.name} does not match ${path}`);
  return route.decide({ method: 'GET', path, params, header: () => undefined, body: '' });
}

describe('health and metrics as descriptors: plain answers, no hono', () => {
  it('answers /healthz and a ready /readyz with no-store JSON', async () => {
    const route = healthRoute(async () => {});
    expect(route.match('/other')).toBeNull();
    expect(await get(route, '/readyz')).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: '{"status":"ready"}',
    });
    expect((await get(route, '/healthz')).status).toBe(200);
  });

  it('answers a store that is not reachable with 503, its Retry-After and what is wrong', async () => {
    const answer = await get(
      healthRoute(async () => {
        throw new IdbridgeError('store_unavailable', 'the bucket answered 503', [], {
          retryAfter: 2,
        });
      }),
      '/readyz',
    );
    expect(answer.status).toBe(503);
    expect(answer.headers).toMatchObject({ 'retry-after': '2', 'cache-control': 'no-store' });
    expect(JSON.parse(answer.body as string)).toEqual({
      error: { code: 'store_unavailable', message: 'not ready: the bucket answered 503' },
    });
  });

  it("answers /metrics with the registry's text, never cached", async () => {
    const registry = new Registry();
    const answer = await get(metricsRoute(registry), '/metrics');
    expect(answer).toEqual({
      status: 200,
      headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' },
      body: await registry.metrics(),
    });
  });
});
