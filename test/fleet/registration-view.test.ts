import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startServe, type ServeHarness } from '../support/serve.js';

interface View {
  mode: string;
  lastKeyWrite: { at: string; source: string } | null;
}

/** The registration API shows each cluster's mode and the last write of its keys. */
describe('registration API: mode and last key write', () => {
  let serve: ServeHarness;
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${serve.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${serve.adminToken}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as { cluster: View; clusters: View[] } };
  };
  beforeAll(async () => {
    serve = await startServe();
  });
  afterAll(async () => {
    await serve?.close();
  });

  it('a new cluster without keys: its own provider, no key write yet', async () => {
    const created = await admin('POST', '/api/v1/clusters', { id: 'bare' });
    expect(created.status).toBe(201);
    expect(created.body.cluster).toMatchObject({ mode: 'provider', lastKeyWrite: null });
  });

  it('registration with keys, then an admin upload, each is the last key write', async () => {
    const created = await admin('POST', '/api/v1/clusters', {
      id: 'fleet-c',
      mode: 'fleet',
      jwks: jwksOf(generateClusterKey()),
    });
    expect(created.body.cluster.mode).toBe('fleet');
    expect(created.body.cluster.lastKeyWrite).toMatchObject({ source: 'registration' });
    const put = await admin('PUT', '/api/v1/clusters/fleet-c/keys', {
      jwks: jwksOf(generateClusterKey()),
    });
    expect(put.status).toBe(200);
    const got = await admin('GET', '/api/v1/clusters/fleet-c');
    expect(got.body.cluster.lastKeyWrite?.source).toMatch(/^admin/);
    expect(Date.parse(got.body.cluster.lastKeyWrite!.at)).toBeGreaterThanOrEqual(
      Date.parse(created.body.cluster.lastKeyWrite!.at),
    );
  });

  it('PATCH changes the mode; the list shows every mode; provider is the default again', async () => {
    expect((await admin('PATCH', '/api/v1/clusters/bare', { mode: 'jwks-upload' })).status).toBe(
      200,
    );
    const list = await admin('GET', '/api/v1/clusters');
    expect(list.body.clusters.map((c) => c.mode)).toEqual(['jwks-upload', 'fleet']);
    const back = await admin('PATCH', '/api/v1/clusters/bare', { mode: 'provider' });
    expect(back.body.cluster.mode).toBe('provider');
  });

  it('refuses a bad mode at registration, registering nothing', async () => {
    const refused = await admin('POST', '/api/v1/clusters', { id: 'x1', mode: 'FLEET' });
    expect(refused.status).toBe(400);
    const error = (refused.body as unknown as { error: { message: string } }).error;
    expect(error.message).toMatch(/mode: must be "provider" .*, "jwks-upload" or "fleet"/);
    expect((await admin('GET', '/api/v1/clusters/x1')).status).toBe(404);
  });
});
