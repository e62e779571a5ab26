import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { apiClient, type ApiClient, type ApiHost } from './admin-api-contract.js';
import { rawRequest } from './issuer-contract.js';

interface HostileCase {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  /** Raw string body, sent as-is. */
  raw?: string;
  headers?: Record<string, string>;
  /** Send no Authorization header at all. */
  noAuth?: boolean;
  status: number;
  code?: string;
  message: RegExp;
}

const rsa = generateClusterKey('RS256');
const rsa1024 = generateClusterKey('RS256', 1024);
const p256 = generateClusterKey('ES256');

/** An RSA key with e = 1: every signature is its own padded message, so anyone could forge tokens for it. */
const forgeableJwk = () => ({ ...rsa.jwk, kid: 'forgeable', e: 'AQ' });
/** A JWT-shaped bearer naming `kid`, whose signature is garbage: what a prober sends. */
const probeBearer = (kid: string) =>
  `Bearer ${Buffer.from(JSON.stringify({ alg: 'RS256', kid })).toString('base64url')}.${Buffer.from('{"iss":"x"}').toString('base64url')}.c2lnbmF0dXJl`;
/** The one answer to an unauthenticated push, whether or not the cluster exists or has keys. */
const notVerified =
  /does not verify with the keys on record for cluster .*not among cluster .* published keys.*signature does not verify.*no keys on record yet/;

/** The private half of the RSA key, as a JWK: what a careless operator might paste. */
const privateJwk = () => ({
  ...(rsa.privateKey.export({ format: 'jwk' }) as object),
  kid: 'leaked',
  use: 'sig',
  alg: 'RS256',
});

const cases: HostileCase[] = [
  {
    name: 'no Authorization header',
    method: 'GET',
    path: '/api/v1/clusters',
    noAuth: true,
    status: 401,
    code: 'unauthenticated',
    message: /Authorization: Bearer/,
  },
  {
    name: 'wrong admin token',
    method: 'GET',
    path: '/api/v1/clusters',
    headers: { authorization: 'Bearer not-the-right-token-at-all' },
    status: 401,
    code: 'unauthenticated',
    message: /admin token is wrong/,
  },
  {
    name: 'Basic instead of Bearer',
    method: 'GET',
    path: '/api/v1/clusters',
    headers: { authorization: 'Basic YWRtaW46YWRtaW4=' },
    status: 400,
    message: /Bearer <admin token>/,
  },
  {
    name: 'wrong token on create',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'evil' },
    headers: { authorization: 'Bearer x'.padEnd(40, 'x') },
    status: 401,
    message: /admin token is wrong/,
  },
  {
    name: 'text/plain body',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: '{"id":"c9"}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'unsupported_media_type',
    message: /Content-Type: application\/json/,
  },
  {
    name: 'form body',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: 'id=c9',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    message: /must be JSON/,
  },
  {
    name: 'no content type',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: '{"id":"c9"}',
    headers: { 'content-type': '' },
    status: 415,
    message: /must be JSON/,
  },
  {
    name: 'not JSON',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: '{"id": c9',
    status: 400,
    code: 'invalid_request',
    message: /not valid JSON/,
  },
  {
    name: 'JWKS nested 30,000 deep',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: `{"id":"c9","jwks":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
    status: 400,
    code: 'invalid_request',
    message: /nests objects and arrays more than 64 levels deep/,
  },
  {
    name: 'broker policy nested 30,000 deep',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    raw: `{"broker":${'{"a":'.repeat(30_000)}1${'}'.repeat(30_000)}}`,
    status: 400,
    code: 'invalid_request',
    message: /more than 64 levels deep/,
  },
  {
    name: 'JSON array',
    method: 'POST',
    path: '/api/v1/clusters',
    body: [{ id: 'c9' }],
    status: 400,
    message: /expected object/,
  },
  {
    name: 'oversized body',
    method: 'POST',
    path: '/api/v1/clusters',
    raw: JSON.stringify({ id: 'c9', pad: 'x'.repeat(300 * 1024) }),
    status: 413,
    code: 'payload_too_large',
    message: /larger than 256 KiB/,
  },
  {
    name: 'unknown field',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', issuer: 'https://evil.example' },
    status: 400,
    message: /issuer/,
  },
  {
    name: 'path traversal id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: '../../etc/passwd' },
    status: 400,
    message: /not a DNS label/,
  },
  {
    name: 'uppercase id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'Prod' },
    status: 400,
    message: /use "prod"/,
  },
  {
    name: 'reserved id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'healthz' },
    status: 400,
    message: /reserved/,
  },
  {
    name: 'empty id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: '' },
    status: 400,
    message: /not a DNS label/,
  },
  {
    name: '64-character id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'a'.repeat(64) },
    status: 400,
    message: /1-63 characters/,
  },
  {
    name: 'id with a dot',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'a.b' },
    status: 400,
    message: /DNS label/,
  },
  {
    name: 'numeric id',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 7 },
    status: 400,
    message: /must be a string/,
  },
  {
    name: 'bad syncSubject',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', syncSubject: 'admin' },
    status: 400,
    message: /system:serviceaccount:NAMESPACE:NAME/,
  },
  {
    name: 'private RSA key in JWKS',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [privateJwk()] } },
    status: 400,
    code: 'invalid_jwks',
    message: /private key material \(d, p, q, dp, dq, qi\).*rotated/,
  },
  {
    name: 'symmetric key in JWKS',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ kty: 'oct', kid: 's', k: 'c2VjcmV0' }] } },
    status: 400,
    message: /symmetric/,
  },
  {
    name: 'duplicate kid',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [rsa.jwk, { ...p256.jwk, kid: rsa.kid }] } },
    status: 400,
    message: /appears more than once/,
  },
  {
    name: 'missing kid',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...rsa.jwk, kid: undefined }] } },
    status: 400,
    message: /non-empty "kid"/,
  },
  {
    name: 'empty key set',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [] } },
    status: 400,
    message: /key set is empty/,
  },
  {
    name: '51 keys',
    method: 'POST',
    path: '/api/v1/clusters',
    body: {
      id: 'c9',
      jwks: { keys: Array.from({ length: 51 }, (_, i) => ({ ...rsa.jwk, kid: `k${i}` })) },
    },
    status: 400,
    message: /at most 50 keys/,
  },
  {
    name: 'RSA 1024',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: jwksOf(rsa1024) },
    status: 400,
    message: /1024 bits; at least 2048/,
  },
  {
    name: 'keys not an array',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: 'abc' } },
    status: 400,
    message: /"keys" must be an array/,
  },
  {
    name: 'JWKS is a string',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: 'not json' },
    status: 400,
    message: /not valid JSON/,
  },
  {
    name: 'JWKS over 64 KiB',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [rsa.jwk], padding: 'x'.repeat(70 * 1024) } },
    status: 413,
    message: /larger than 64 KiB/,
  },
  {
    name: 'HS256 alg on an RSA key',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...rsa.jwk, alg: 'HS256' }] } },
    status: 400,
    message: /RS256/,
  },
  {
    name: 'alg none',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...rsa.jwk, alg: 'none' }] } },
    status: 400,
    message: /RS256/,
  },
  {
    name: 'EC alg that does not match the curve',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...p256.jwk, alg: 'ES384' }] } },
    status: 400,
    message: /P-256 signs ES256/,
  },
  {
    name: 'EC point not on the curve',
    method: 'POST',
    path: '/api/v1/clusters',
    body: {
      id: 'c9',
      jwks: { keys: [{ ...p256.jwk, y: p256.jwk.kty === 'EC' ? p256.jwk.x : '' }] },
    },
    status: 400,
    message: /does not import/,
  },
  {
    name: 'encryption key',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...rsa.jwk, use: 'enc' }] } },
    status: 400,
    message: /only signing keys/,
  },
  {
    name: 'Ed25519 key',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'ed', x: 'abc' }] } },
    status: 400,
    message: /not supported/,
  },
  {
    name: 'RSA modulus with base64 padding',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [{ ...rsa.jwk, n: 'abc=' }] } },
    status: 400,
    message: /base64url/,
  },
  {
    name: 'PATCH unknown cluster',
    method: 'PATCH',
    path: '/api/v1/clusters/ghost',
    body: { syncSubject: 'system:serviceaccount:a:b' },
    status: 404,
    message: /no cluster "ghost"/,
  },
  {
    name: 'PATCH with a malformed If-Match',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: { syncSubject: 'system:serviceaccount:a:b' },
    headers: { 'if-match': 'yesterday' },
    status: 400,
    message: /If-Match/,
  },
  {
    name: 'PATCH changing the issuer',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: { issuer: 'https://evil.example/victim' },
    status: 400,
    message: /issuer/,
  },
  {
    name: 'GET uppercase id',
    method: 'GET',
    path: '/api/v1/clusters/VICTIM',
    status: 400,
    code: 'invalid_cluster_id',
    message: /use "victim"/,
  },
  {
    name: 'GET encoded traversal',
    method: 'GET',
    path: '/api/v1/clusters/..%2F..%2Fadmin-token',
    status: 400,
    message: /not a DNS label/,
  },
  {
    name: 'PATCH broker provider that is not a provider',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: { broker: { providers: ['projects/my-proj/x'] } },
    status: 400,
    code: 'invalid_request',
    message:
      /broker\.providers\.0: "projects\/my-proj\/x" is not a provider pattern: write projects\/PROJECT_NUMBER/,
  },
  {
    name: 'PATCH broker provider with a 2-character id',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: {
      broker: {
        providers: ['projects/123/locations/global/workloadIdentityPools/idbridge/providers/c1'],
      },
    },
    status: 400,
    message: /broker\.providers\.0: .*"c1".*4-32 characters/,
  },
  {
    name: 'PATCH broker provider with 15 stars in a segment',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: {
      broker: {
        providers: [
          `projects/123/locations/global/workloadIdentityPools/${'*a'.repeat(15)}/providers/*`,
        ],
      },
    },
    status: 400,
    message: /broker\.providers\.0: .*has 16 "\*"; at most 4 per pattern/,
  },
  {
    name: 'PATCH broker subject that is not a subject',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: { broker: { subjects: ['system:serviceaccount:a:*', 'admin'] } },
    status: 400,
    message:
      /broker\.subjects\.1: "admin" is not a subject pattern: write system:serviceaccount:NAMESPACE:NAME/,
  },
  {
    name: 'PATCH broker subject with six stars',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: { broker: { subjects: ['system:serviceaccount:apps:*-*-*-*-*-*-reader'] } },
    status: 400,
    message: /broker\.subjects\.0: .*has 6 "\*"; at most 4/,
  },
  {
    name: 'PATCH broker with 101 subject patterns',
    method: 'PATCH',
    path: '/api/v1/clusters/victim',
    body: {
      broker: {
        subjects: Array.from({ length: 101 }, (_, i) => `system:serviceaccount:ns:sa-${i}`),
      },
    },
    status: 400,
    message: /broker\.subjects: at most 100 subject patterns/,
  },
  {
    name: 'create with a broker subject in uppercase',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', broker: { subjects: ['system:serviceaccount:Apps:*'] } },
    status: 400,
    message: /broker\.subjects\.0: .*lowercase/,
  },
  {
    name: 'DELETE unknown cluster',
    method: 'DELETE',
    path: '/api/v1/clusters/ghost',
    status: 404,
    message: /no cluster "ghost"/,
  },
  {
    name: 'keys PUT with private key',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: { jwks: { keys: [privateJwk()] } },
    status: 400,
    message: /private key material/,
  },
  {
    name: 'keys PUT with a foreign issuer',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: {
      jwks: jwksOf(rsa),
      discovery: {
        issuer: 'https://kubernetes.default.svc',
        jwks_uri: 'https://x/openid/v1/jwks',
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      },
    },
    status: 400,
    code: 'issuer_mismatch',
    message: /--service-account-issuer=/,
  },
  {
    name: 'register an RSA key with e = 1 (forgeable)',
    method: 'POST',
    path: '/api/v1/clusters',
    body: { id: 'c9', jwks: { keys: [forgeableJwk()] } },
    status: 400,
    code: 'invalid_jwks',
    message: /unsafe RSA key: public exponent e is 1.*ANYONE CAN FORGE TOKENS/,
  },
  {
    name: 'register an RSA key with an even modulus',
    method: 'POST',
    path: '/api/v1/clusters',
    body: {
      id: 'c9',
      jwks: {
        keys: [
          { ...rsa.jwk, n: Buffer.from('ff'.repeat(255) + 'fe', 'hex').toString('base64url') },
        ],
      },
    },
    status: 400,
    code: 'invalid_jwks',
    message: /modulus n is even/,
  },
  {
    name: 'register n = 2^2048 - 1',
    method: 'POST',
    path: '/api/v1/clusters',
    body: {
      id: 'c9',
      jwks: {
        keys: [{ ...rsa.jwk, n: Buffer.from('ff'.repeat(256), 'hex').toString('base64url') }],
      },
    },
    status: 400,
    code: 'invalid_jwks',
    message: /divisible by 3/,
  },
  {
    name: 'keys PUT with an RSA key with e = 1 (forgeable)',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: { jwks: { keys: [rsa.jwk, forgeableJwk()] } },
    status: 400,
    code: 'invalid_jwks',
    message: /keys\[1\]: unsafe RSA key: public exponent e is 1/,
  },
  {
    name: 'keys PUT with e = 0',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: { jwks: { keys: [{ ...rsa.jwk, e: 'AA' }] } },
    status: 400,
    code: 'invalid_jwks',
    message: /e is 0; only e = 65537/,
  },
  {
    name: 'keys PUT to an unknown cluster with a JWT-shaped bearer',
    method: 'PUT',
    path: '/api/v1/clusters/ghost/keys',
    body: { jwks: jwksOf(rsa) },
    headers: { authorization: probeBearer(rsa.kid) },
    status: 401,
    code: 'unauthenticated',
    message: notVerified,
  },
  {
    name: 'keys PUT to a keyless cluster with a JWT-shaped bearer',
    method: 'PUT',
    path: '/api/v1/clusters/keyless/keys',
    body: { jwks: jwksOf(rsa) },
    headers: { authorization: probeBearer(rsa.kid) },
    status: 401,
    code: 'unauthenticated',
    message: notVerified,
  },
  {
    name: 'keys PUT with a bad signature under a kid on record',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: { jwks: jwksOf(rsa) },
    headers: { authorization: probeBearer(rsa.kid) },
    status: 401,
    code: 'unauthenticated',
    message: notVerified,
  },
  {
    name: 'keys PUT with a kid not on record',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: { jwks: jwksOf(rsa) },
    headers: { authorization: probeBearer('not-a-kid') },
    status: 401,
    code: 'unauthenticated',
    message: notVerified,
  },
  {
    name: 'keys PUT with a discovery nested 30,000 deep',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    raw: `{"jwks":{"keys":[]},"discovery":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
    status: 400,
    code: 'invalid_request',
    message: /more than 64 levels deep/,
  },
  {
    name: 'keys PUT without jwks',
    method: 'PUT',
    path: '/api/v1/clusters/victim/keys',
    body: {},
    status: 400,
    message: /jwks is required/,
  },
  {
    name: 'list with limit 0',
    method: 'GET',
    path: '/api/v1/clusters?limit=0',
    status: 400,
    message: /limit=1\.\.500/,
  },
  {
    name: 'list with limit 10000',
    method: 'GET',
    path: '/api/v1/clusters?limit=10000',
    status: 400,
    message: /limit/,
  },
  {
    name: 'list with a forged page token',
    method: 'GET',
    path: '/api/v1/clusters?pageToken=Li4vLi4v',
    status: 400,
    message: /pageToken/,
  },
  {
    name: 'list with an unknown parameter',
    method: 'GET',
    path: '/api/v1/clusters?admin=true',
    status: 400,
    message: /admin/,
  },
  {
    name: 'unknown API route',
    method: 'GET',
    path: '/api/v1/secrets',
    status: 404,
    code: 'not_found',
    message: /no route/,
  },
  {
    name: 'unknown top-level route',
    method: 'GET',
    path: '/admin-token',
    status: 404,
    message: /no route/,
  },
];

/**
 * Cases a host's platform answers before the app runs, and how (e.g. the Functions Framework
 * refuses malformed JSON with its own 400 page). The status and "nothing changed" still hold.
 */
export type PlatformRefusals = Record<string, { status: number; body: RegExp }>;

/** Hostile and malformed requests: each gets its 4xx and message, and nothing stored changes. */
export function describeHostileApiInputs(
  hostName: string,
  start: () => Promise<ApiHost>,
  platform: PlatformRefusals = {},
): void {
  describe(`hostile API inputs: ${hostName}`, () => {
    let host: ApiHost;
    let api: ApiClient;
    let before: unknown;

    beforeAll(async () => {
      host = await start();
      api = apiClient(host);
      expect(
        (await api.call('POST', '/api/v1/clusters', { id: 'victim', jwks: jwksOf(rsa) })).status,
      ).toBe(201);
      expect((await api.call('POST', '/api/v1/clusters', { id: 'keyless' })).status).toBe(201);
      before = await api.snapshot();
    });
    afterAll(async () => {
      await host?.close();
    });

    it.each(cases)('$name → $status', async (c) => {
      const headers: Record<string, string> = c.noAuth
        ? {}
        : { authorization: `Bearer ${host.adminToken}` };
      if (c.raw !== undefined || c.body !== undefined) headers['content-type'] = 'application/json';
      Object.assign(headers, c.headers);
      if (headers['content-type'] === '') delete headers['content-type'];
      const res = await rawRequestWithBody(
        host.url,
        c.method,
        c.path,
        headers,
        c.raw ?? (c.body !== undefined ? JSON.stringify(c.body) : undefined),
      );
      expect(res.status).toBe(platform[c.name]?.status ?? c.status);
      const refusal = platform[c.name];
      if (refusal) {
        expect(res.body).toMatch(refusal.body);
        expect(await api.snapshot()).toEqual(before);
        return;
      }
      const body = JSON.parse(res.body) as { error: { code: string; message: string } };
      expect(body.error.message).toMatch(c.message);
      if (c.code) expect(body.error.code).toBe(c.code);
      // Nothing the caller sent as a credential comes back.
      expect(res.body).not.toContain(host.adminToken);
      expect(await api.snapshot()).toEqual(before);
    });

    it('answers an unauthenticated push the same whether the cluster is unknown, keyless or has keys', async () => {
      const probe = async (cluster: string) => {
        const res = await rawRequestWithBody(
          host.url,
          'PUT',
          `/api/v1/clusters/${cluster}/keys`,
          { authorization: probeBearer(rsa.kid), 'content-type': 'application/json' },
          JSON.stringify({ jwks: jwksOf(rsa) }),
        );
        // The id in the path is the only thing the answer may depend on.
        return { status: res.status, body: res.body.replaceAll(cluster, 'CLUSTER') };
      };
      const unknown = await probe('ghost');
      expect(unknown.status).toBe(401);
      expect(await probe('keyless')).toEqual(unknown);
      expect(await probe('victim')).toEqual(unknown);
      expect(await api.snapshot()).toEqual(before);
    });

    it('never echoes a private key back', async () => {
      const res = await api.call('POST', '/api/v1/clusters', {
        id: 'c9',
        jwks: { keys: [privateJwk()] },
      });
      const d = (privateJwk() as unknown as { d: string }).d;
      expect(JSON.stringify(res.json)).not.toContain(d);
    });

    it('keeps serving after all of it', async () => {
      expect((await fetch(`${host.url}/victim/openid/v1/jwks`)).status).toBe(200);
      expect((await rawRequest(host.url, '/healthz')).status).toBe(200);
    });
  });
}

async function rawRequestWithBody(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  return { status: res.status, body: await res.text() };
}
