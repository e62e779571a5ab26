import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { mountRoute } from '../../src/http/hono-route.js';
import {
  jsonTooLarge,
  shapeOfPath,
  type RouteDescriptor,
  type WireShape,
} from '../../src/http/route.js';

/** A POST-only route in `shape` at /r/:id, with a 405 hint and optionally a CORS preflight. */
function postRoute(
  shape: WireShape,
  preflight?: Record<string, string>,
): RouteDescriptor<{ id: string }> {
  return {
    name: `post-${shape}`,
    paths: ['/r/:id'],
    match: (path) => (/^\/r\/[^/]+$/.test(path) ? { id: path.slice(3) } : null),
    methods: ['POST'],
    bodyCap: 16,
    shape,
    decide: () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }),
    tooLarge: () => jsonTooLarge(16),
    fail: () => ({ status: 500, headers: {}, body: 'failed' }),
    fast: false,
    methodHint: 'here; use POST',
    ...(preflight ? { preflight } : {}),
  };
}

function appOf(route: RouteDescriptor<{ id: string }>): Hono {
  const app = new Hono();
  mountRoute(app, route);
  app.notFound((c) => c.text('not found', 404));
  return app;
}

describe('the 405 and the preflight generated from a descriptor', () => {
  it.each([
    [
      'idbridge',
      { error: { code: 'method_not_allowed', message: 'DELETE is not allowed here; use POST' } },
      'application/json',
    ],
    [
      'sts',
      { error: 'invalid_request', error_description: 'DELETE is not allowed here; use POST' },
      'application/json; charset=utf-8',
    ],
    [
      'iam',
      {
        error: {
          code: 405,
          message: 'DELETE is not allowed here; use POST',
          status: 'UNIMPLEMENTED',
        },
      },
      'application/json; charset=utf-8',
    ],
  ] as const)(
    'answers another method with 405 in the %s shape and Allow from its methods',
    async (shape, body, contentType) => {
      const res = await appOf(postRoute(shape)).request('/r/1', { method: 'DELETE' });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(res.headers.get('content-type')).toBe(contentType);
      expect(await res.json()).toEqual(body);
    },
  );

  it('answers OPTIONS with 204, Allow and the CORS headers when the route has a preflight, and lists OPTIONS in the 405', async () => {
    const app = appOf(postRoute('idbridge', { 'access-control-allow-origin': '*' }));
    const preflight = await app.request('/r/1', { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('allow')).toBe('POST, OPTIONS');
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect((await app.request('/r/1', { method: 'PUT' })).headers.get('allow')).toBe(
      'POST, OPTIONS',
    );
  });

  it('leaves other methods to the app when the route states no 405', async () => {
    const { methodHint: _hint, ...route } = postRoute('idbridge');
    expect((await appOf(route).request('/r/1', { method: 'DELETE' })).status).toBe(404);
  });

  it("picks the wire shape of the descriptor matching a path, idbridge's own for the rest", () => {
    const routes = [postRoute('sts') as RouteDescriptor];
    expect(shapeOfPath(routes, '/r/1')).toBe('sts');
    expect(shapeOfPath(routes, '/api/v1/clusters')).toBe('idbridge');
  });
});
