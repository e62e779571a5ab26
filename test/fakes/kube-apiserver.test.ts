import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey } from '../support/keys.js';
import { startFakeKubeApiserver, type FakeKubeApiserver } from './kube-apiserver.js';

function get(
  url: string,
  options: { ca?: string; token?: string } = {},
): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ...(options.ca ? { ca: options.ca } : {}),
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode!, type: res.headers['content-type'], body }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('fake kube-apiserver', () => {
  let api: FakeKubeApiserver;
  let token: string;
  beforeAll(async () => {
    api = await startFakeKubeApiserver({ issuer: 'https://issuer.example/c1' });
    token = await api.issueToken({
      namespace: 'idbridge-sync',
      serviceAccount: 'idbridge-sync',
      audience: api.apiAudience,
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('serves TLS with its own CA: an untrusting client refuses it', async () => {
    await expect(get(`${api.url}/openid/v1/jwks`, { token })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  it("answers 401 Status without a valid bearer: none, a stranger's key, another audience, expired", async () => {
    const stranger = await startFakeKubeApiserver({ issuer: api.issuer });
    const foreign = await stranger.issueToken({
      namespace: 'a',
      serviceAccount: 'b',
      audience: api.apiAudience,
    });
    await stranger.close();
    const wrongAudience = await api.issueToken({
      namespace: 'a',
      serviceAccount: 'b',
      audience: 'https://idbridge.example',
    });
    const expired = await api.issueToken({
      namespace: 'a',
      serviceAccount: 'b',
      audience: api.apiAudience,
      issuedAt: Math.floor(Date.now() / 1000) - 7200,
      lifetime: 3600,
    });
    for (const bad of [undefined, foreign, wrongAudience, expired]) {
      const res = await get(`${api.url}/openid/v1/jwks`, {
        ca: api.caPem,
        ...(bad ? { token: bad } : {}),
      });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({
        kind: 'Status',
        reason: 'Unauthorized',
        code: 401,
      });
    }
  });

  it("serves the discovery document and the JWKS with kube-apiserver's content types", async () => {
    const jwks = await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem, token });
    expect(jwks.status).toBe(200);
    expect(jwks.type).toBe('application/jwk-set+json');
    expect(JSON.parse(jwks.body)).toEqual({ keys: [api.signingKey.jwk] });
    const discovery = await get(`${api.url}/.well-known/openid-configuration`, {
      ca: api.caPem,
      token,
    });
    expect(discovery.type).toBe('application/json');
    expect(JSON.parse(discovery.body)).toMatchObject({
      issuer: 'https://issuer.example/c1',
      jwks_uri: 'https://issuer.example/c1/openid/v1/jwks',
    });
  });

  it('rotates keys: publish, switch the signing key, drop the old one', async () => {
    const old = api.signingKey;
    const next = generateClusterKey('ES256');
    api.addKey(next);
    expect(
      JSON.parse((await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem, token })).body).keys,
    ).toHaveLength(2);
    expect(() => api.setSigningKey(generateClusterKey('RS256'))).toThrow(/publish the key before/);
    api.setSigningKey(next);
    const fresh = await api.issueToken({
      namespace: 'idbridge-sync',
      serviceAccount: 'idbridge-sync',
      audience: api.apiAudience,
    });
    api.removeKey(old.kid);
    // Tokens signed by the dropped key stop working; new ones work.
    expect((await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem, token })).status).toBe(401);
    const res = await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem, token: fresh });
    expect(JSON.parse(res.body)).toEqual({ keys: [next.jwk] });
    token = fresh;
  });

  it('forbids a subject through RBAC with 403', async () => {
    api.forbid('system:serviceaccount:idbridge-sync:idbridge-sync');
    const res = await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem, token });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toMatch(/cannot get path "\/openid\/v1\/jwks"/);
  });
});

/** Issue #11, item 3: the fake answers as a real kube-apiserver (1.26) did. */
describe('fake kube-apiserver: what the real one does', () => {
  it("is HTTPS only: a plain-http client gets Go's 400, not a page", async () => {
    const api = await startFakeKubeApiserver({ issuer: 'https://issuer.example/c1' });
    try {
      const res = await fetch(api.url.replace('https://', 'http://') + '/openid/v1/jwks');
      expect(res.status).toBe(400);
      expect(await res.text()).toBe('Client sent an HTTP request to an HTTPS server.\n');
    } finally {
      await api.close();
    }
  });

  it('serves 404 on both discovery paths for an http:// issuer, and refuses to start with an http:// jwks-uri', async () => {
    const api = await startFakeKubeApiserver({ issuer: 'http://127.0.0.1:8787/c1' });
    try {
      const token = await api.issueToken({
        namespace: 'idbridge-sync',
        serviceAccount: 'idbridge-sync',
        audience: api.apiAudience,
      });
      for (const path of ['/.well-known/openid-configuration', '/openid/v1/jwks']) {
        const res = await get(`${api.url}${path}`, { ca: api.caPem, token });
        expect(res.status).toBe(404);
        expect(JSON.parse(res.body)).toEqual({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'the server could not find the requested resource',
          reason: 'NotFound',
          details: {},
          code: 404,
        });
      }
    } finally {
      await api.close();
    }
    await expect(
      startFakeKubeApiserver({
        issuer: 'https://issuer.example/c1',
        jwksUri: 'http://issuer.example/c1/openid/v1/jwks',
      }),
    ).rejects.toThrow(/jwks-uri requires https scheme/);
  });

  it('answers errors as metav1.Status, key for key', async () => {
    const api = await startFakeKubeApiserver({ issuer: 'https://issuer.example/c1' });
    try {
      const unauthorized = await get(`${api.url}/openid/v1/jwks`, { ca: api.caPem });
      expect(Object.keys(JSON.parse(unauthorized.body))).toEqual([
        'kind',
        'apiVersion',
        'metadata',
        'status',
        'message',
        'reason',
        'code',
      ]);
      const token = await api.issueToken({
        namespace: 'a',
        serviceAccount: 'b',
        audience: api.apiAudience,
      });
      const missing = await get(`${api.url}/no/such/path`, { ca: api.caPem, token });
      expect(Object.keys(JSON.parse(missing.body))).toEqual([
        'kind',
        'apiVersion',
        'metadata',
        'status',
        'message',
        'reason',
        'details',
        'code',
      ]);
    } finally {
      await api.close();
    }
  });

  it('ServiceAccount admission rejects a pod whose ServiceAccount is missing before any webhook sees it', async () => {
    const api = await startFakeKubeApiserver({
      issuer: 'https://issuer.example/c1',
      serviceAccounts: ['apps/web'],
    });
    try {
      const token = await api.issueToken({
        namespace: 'kube-system',
        serviceAccount: 'admin',
        audience: api.apiAudience,
      });
      const create = (pod: object) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            `${api.url}/api/v1/namespaces/apps/pods`,
            {
              method: 'POST',
              ca: api.caPem,
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            },
            (res) => {
              let body = '';
              res.on('data', (chunk) => {
                body += chunk;
              });
              res.on('end', () => resolve({ status: res.statusCode!, body }));
            },
          );
          req.on('error', reject);
          req.end(JSON.stringify(pod));
        });
      const refused = await create({
        metadata: { name: 'x' },
        spec: { serviceAccountName: 'ghost', containers: [{ name: 'c', image: 'busybox' }] },
      });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body)).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'pods "x" is forbidden: error looking up service account apps/ghost: serviceaccount "ghost" not found',
        reason: 'Forbidden',
        details: { name: 'x', kind: 'pods' },
        code: 403,
      });
      expect(api.admittedPods).toEqual([]);
      const admitted = await create({
        metadata: { name: 'y' },
        spec: { serviceAccountName: 'web', containers: [{ name: 'c', image: 'busybox' }] },
      });
      expect(admitted.status).toBe(201);
      expect(api.admittedPods).toEqual(['apps/y']);
    } finally {
      await api.close();
    }
  });
});
