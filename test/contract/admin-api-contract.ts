import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf } from '../support/keys.js';

/** A host of the registration API (`idbridge serve`, the Cloud Function). */
export interface ApiHost {
  url: string;
  publicUrl: string;
  adminToken: string;
  close(): Promise<void>;
}

export interface ApiClient {
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; json: any }>;
  /** Every cluster, as the list endpoint shows them: proof that a refused request changed nothing. */
  snapshot(): Promise<unknown>;
}

export function apiClient(host: ApiHost): ApiClient {
  const call: ApiClient['call'] = async (method, path, body, headers = {}) => {
    const res = await fetch(`${host.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${host.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
  };
  return {
    call,
    snapshot: async () => {
      const pages: unknown[] = [];
      let token: string | undefined;
      do {
        const page = await call(
          'GET',
          `/api/v1/clusters?limit=500${token ? `&pageToken=${token}` : ''}`,
        );
        expect(page.status).toBe(200);
        pages.push(...page.json.clusters);
        token = page.json.nextPageToken;
      } while (token);
      return pages;
    },
  };
}

export function describeAdminApiContract(hostName: string, start: () => Promise<ApiHost>): void {
  describe(`admin API contract: ${hostName}`, () => {
    let host: ApiHost;
    let api: ApiClient;
    const key = generateClusterKey('RS256');

    beforeAll(async () => {
      host = await start();
      api = apiClient(host);
    });
    afterAll(async () => {
      await host?.close();
    });

    it('creates a cluster and tells the operator the kube-apiserver flags', async () => {
      const res = await api.call('POST', '/api/v1/clusters', {
        id: 'api-c1',
        syncSubject: 'system:serviceaccount:idbridge-sync:sync',
        jwks: jwksOf(key),
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toBe('/api/v1/clusters/api-c1');
      const issuer = `${host.publicUrl}/api-c1`;
      expect(res.json.cluster).toMatchObject({
        id: 'api-c1',
        issuer,
        syncSubject: 'system:serviceaccount:idbridge-sync:sync',
        version: 1,
      });
      expect(res.json.cluster.keys).toEqual([
        expect.objectContaining({ kid: key.kid, alg: 'RS256' }),
      ]);
      expect(res.json.kubeApiserver.flags).toEqual(
        expect.arrayContaining([
          `--service-account-issuer=${issuer}`,
          `--service-account-jwks-uri=${issuer}/openid/v1/jwks`,
          expect.stringMatching(/^--api-audiences=/),
        ]),
      );
      const published = await fetch(`${host.url}/api-c1/openid/v1/jwks`);
      expect(await published.json()).toEqual(jwksOf(key));
    });

    it('refuses to register the same id twice', async () => {
      const res = await api.call('POST', '/api/v1/clusters', { id: 'api-c1' });
      expect(res.status).toBe(409);
      expect(res.json.error.code).toBe('cluster_exists');
    });

    it('gets a cluster with its version as ETag, and 404 for an unknown one', async () => {
      const res = await api.call('GET', '/api/v1/clusters/api-c1');
      expect(res.status).toBe(200);
      expect(res.headers.get('etag')).toBe('"1"');
      expect(res.json.cluster.id).toBe('api-c1');
      const missing = await api.call('GET', '/api/v1/clusters/nope');
      expect(missing.status).toBe(404);
      expect(missing.json.error.message).toMatch(/no cluster "nope" is registered/);
    });

    it('lists clusters in pages', async () => {
      for (const id of ['page-a', 'page-b', 'page-c', 'page-d'])
        expect((await api.call('POST', '/api/v1/clusters', { id })).status).toBe(201);
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const res = await api.call(
          'GET',
          `/api/v1/clusters?limit=2${token ? `&pageToken=${token}` : ''}`,
        );
        expect(res.status).toBe(200);
        expect(res.json.clusters.length).toBeLessThanOrEqual(2);
        seen.push(...res.json.clusters.map((c: { id: string }) => c.id));
        token = res.json.nextPageToken;
        pages++;
      } while (token);
      expect(seen).toEqual([...seen].sort());
      expect(seen).toEqual(
        expect.arrayContaining(['api-c1', 'page-a', 'page-b', 'page-c', 'page-d']),
      );
      expect(pages).toBeGreaterThanOrEqual(3);
    });

    it('updates a cluster, honouring If-Match', async () => {
      const res = await api.call(
        'PATCH',
        '/api/v1/clusters/page-a',
        { syncSubject: 'system:serviceaccount:ops:syncer' },
        { 'if-match': '"1"' },
      );
      expect(res.status).toBe(200);
      expect(res.json.cluster).toMatchObject({
        syncSubject: 'system:serviceaccount:ops:syncer',
        version: 2,
      });
      const stale = await api.call(
        'PATCH',
        '/api/v1/clusters/page-a',
        { syncSubject: 'system:serviceaccount:ops:other' },
        { 'if-match': '"1"' },
      );
      expect(stale.status).toBe(412);
      expect(stale.json.error.message).toMatch(/version 2, not 1/);
      const policy = await api.call('PATCH', '/api/v1/clusters/page-a', {
        broker: { subjects: ['system:serviceaccount:team-a:*'] },
      });
      expect(policy.json.cluster.broker).toEqual({ subjects: ['system:serviceaccount:team-a:*'] });
    });

    it('replaces keys with the admin token and publishes them', async () => {
      const next = generateClusterKey('ES256');
      const res = await api.call('PUT', '/api/v1/clusters/page-b/keys', { jwks: jwksOf(next) });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ added: [next.kid], removed: [], changed: true });
      expect(await (await fetch(`${host.url}/page-b/openid/v1/jwks`)).json()).toEqual(jwksOf(next));
      const again = await api.call('PUT', '/api/v1/clusters/page-b/keys', { jwks: jwksOf(next) });
      expect(again.json).toMatchObject({ changed: false });
      expect(again.json.cluster.version).toBe(res.json.cluster.version);
    });

    it('deletes a cluster and stops publishing it', async () => {
      expect((await api.call('DELETE', '/api/v1/clusters/page-c')).status).toBe(204);
      expect((await api.call('GET', '/api/v1/clusters/page-c')).status).toBe(404);
      expect((await fetch(`${host.url}/page-c/openid/v1/jwks`)).status).toBe(404);
      expect((await api.call('DELETE', '/api/v1/clusters/page-c')).status).toBe(404);
    });

    it('answers health and readiness', async () => {
      expect((await fetch(`${host.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${host.url}/readyz`)).json()).toEqual({ status: 'ready' });
    });
  });
}
