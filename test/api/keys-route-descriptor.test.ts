import { describe, expect, it } from 'vitest';
import { keysRoute } from '../../src/api/keys-route.js';
import { silentLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { DEFAULT_SYNC_SUBJECT } from '../../src/api/schemas.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

const TOKEN = 'keys-route-admin-token-0123456789';

/** The keys push descriptor over a registry holding cluster c1 without keys. */
async function keysOn() {
  const registry = new ClusterRegistry(new MemoryStore(), { publicUrl: 'https://issuer.example' });
  await registry.create({ id: 'c1', syncSubject: DEFAULT_SYNC_SUBJECT });
  const route = keysRoute({
    registry,
    adminToken: TOKEN,
    syncAudience: 'idbridge-sync',
    logger: silentLogger,
  });
  return async (headers: Record<string, string>, body = '') => {
    const path = '/api/v1/clusters/c1/keys';
    try {
      return await route.decide({
        method: 'PUT',
        path,
        params: route.match(path)!,
        header: (name) => headers[name],
        body,
      });
    } catch (err) {
      return route.fail(err, path);
    }
  };
}

describe('the keys push as a descriptor: decided without hono', () => {
  it('challenges a missing bearer in the sync realm and refuses a bearer that is neither token', async () => {
    const put = await keysOn();
    const missing = await put({});
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="idbridge-sync"');
    const wrong = await put({ authorization: 'Bearer not-a-jwt' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(JSON.parse(wrong.body as string).error.message).toContain(
      'neither a ServiceAccount token nor the admin token',
    );
  });

  it("takes the admin token's upload and answers the new version as its ETag", async () => {
    const put = await keysOn();
    const answer = await put(
      { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      JSON.stringify({ jwks: jwksOf(generateClusterKey('ES256')) }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.etag).toBe('"2"');
    expect(JSON.parse(answer.body as string)).toMatchObject({
      changed: true,
      added: [expect.any(String)],
    });
  });
});
