import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { describe, expect, it } from 'vitest';
import { adminDescriptors } from '../../src/api/admin-routes.js';
import type { RouteDescriptor } from '../../src/http/route.js';
import { silentLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { ClusterRegistry } from '../../src/registry/registry.js';

const TOKEN = 'admin-route-token-0123456789';

function descriptors(adminToken: string | undefined) {
  return adminDescriptors(
    new ClusterRegistry(new MemoryStore(), { publicUrl: 'https://issuer.example' }),
    adminToken,
    silentLogger,
  );
}

/** Calls a descriptor as any host would: plain values in, a plain answer out. */
async function call<P>(
  route: RouteDescriptor<P>,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string; query?: Record<string, string> } = {},
) {
  const params = route.match(path);
  if (params === null) throw new Error(`${route.name} does not match ${path}`);
  const headers = options.headers ?? {};
  try {
    return await route.decide({
      method,
      path,
      params,
      header: (name) => headers[name],
      body: options.body ?? '',
      ...(options.query ? { query: options.query } : {}),
    });
  } catch (err) {
    // A refusal is thrown by the decision and answered by the route's own `fail`, as every host does.
    return route.fail(err, path);
  }
}

describe('the admin API as descriptors: decided without hono', () => {
  it('claims /api/v1/clusters and /api/v1/clusters/{id} (decoded), not the keys path', () => {
    const [collection, item] = descriptors(TOKEN);
    expect(collection.match('/api/v1/clusters')).toBe(true);
    expect(item.match('/api/v1/clusters/c%31')).toBe('c1');
    expect(item.match('/api/v1/clusters/c1/keys')).toBeNull();
  });

  it("refuses a missing, malformed and wrong bearer exactly as hono's bearerAuth did", async () => {
    const [collection] = descriptors(TOKEN);
    // The reference: hono's own middleware with the same realm and bodies.
    const reference = new Hono().get(
      '/',
      bearerAuth({
        token: TOKEN,
        realm: 'idbridge-admin',
        noAuthenticationHeader: { message: { m: 1 } },
        invalidAuthenticationHeader: { message: { m: 2 } },
        invalidToken: { message: { m: 3 } },
      }),
      (c) => c.text('ok'),
    );
    for (const authorization of [undefined, 'Basic x', 'Bearer a b', 'Bearer wrong-token']) {
      const answer = await call(collection, 'GET', '/api/v1/clusters', {
        headers: authorization ? { authorization } : {},
      });
      const expected = await reference.request('/', {
        headers: authorization ? { authorization } : {},
      });
      expect(answer.status, authorization).toBe(expected.status);
      expect(answer.headers['www-authenticate'], authorization).toBe(
        expected.headers.get('www-authenticate'),
      );
      expect(answer.headers['content-type']).toBe('application/json');
    }
  });

  it('creates, lists with its query, gets, updates and deletes a cluster with the admin token', async () => {
    const [collection, item] = descriptors(TOKEN);
    const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const created = await call(collection, 'POST', '/api/v1/clusters', {
      headers,
      body: '{"id":"c1"}',
    });
    expect(created.status).toBe(201);
    expect(created.headers).toMatchObject({ location: '/api/v1/clusters/c1', etag: '"1"' });
    const refused = await call(collection, 'GET', '/api/v1/clusters', {
      headers,
      query: { limit: '0' },
    });
    expect(refused.status).toBe(400);
    expect(
      JSON.parse(
        (await call(collection, 'GET', '/api/v1/clusters', { headers, query: { limit: '1' } }))
          .body as string,
      ),
    ).toMatchObject({ clusters: [{ id: 'c1' }] });
    expect((await call(item, 'HEAD', '/api/v1/clusters/c1', { headers })).status).toBe(200);
    expect(
      (
        await call(item, 'PATCH', '/api/v1/clusters/c1', {
          headers: { ...headers, 'if-match': '"1"' },
          body: '{"syncSubject":"system:serviceaccount:x:y"}',
        })
      ).headers.etag,
    ).toBe('"2"');
    expect((await call(item, 'DELETE', '/api/v1/clusters/c1', { headers })).status).toBe(204);
  });

  it('says the API is disabled when the host has no admin token', async () => {
    const answer = await call(descriptors(undefined)[0], 'GET', '/api/v1/clusters');
    expect(JSON.parse(answer.body as string)).toMatchObject({
      error: { message: expect.stringContaining('set IDBRIDGE_ADMIN_TOKEN') },
    });
  });
});
