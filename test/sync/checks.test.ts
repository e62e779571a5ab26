import { describe, expect, it } from 'vitest';
import { parseSyncFlags } from '../../src/sync/command.js';
import { checkServedDocuments } from '../../src/sync/documents.js';
import { SyncFailure } from '../../src/sync/failure.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

const issuer = 'https://issuer.example.com/prod';
const rsa = generateClusterKey('RS256');
const discovery = {
  issuer,
  jwks_uri: `${issuer}/openid/v1/jwks`,
  response_types_supported: ['id_token'],
  subject_types_supported: ['public'],
  id_token_signing_alg_values_supported: ['RS256'],
};

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<SyncFailure> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).toBeInstanceOf(SyncFailure);
    return err as SyncFailure;
  }
  throw new Error('expected a refusal');
}

describe('checks on what the kube-apiserver served', () => {
  it("accepts a cluster's documents and computes a digest that changes with the keys only", async () => {
    const a = await checkServedDocuments({ discovery, jwks: jwksOf(rsa) }, issuer);
    const b = await checkServedDocuments(
      {
        discovery: { ...discovery, extra: 'ignored' },
        jwks: { keys: [{ ...rsa.jwk, x5c: undefined }] },
      },
      issuer,
    );
    expect(a.digest).toBe(b.digest);
    const c = await checkServedDocuments(
      { discovery, jwks: jwksOf(rsa, generateClusterKey('ES256')) },
      issuer,
    );
    expect(c.digest).not.toBe(a.digest);
  });

  const cases: Array<[string, unknown, unknown, RegExp, string?]> = [
    ['discovery not an object', 'hello', jwksOf(rsa), /not an OpenID provider configuration/],
    ['discovery without jwks_uri', { ...discovery, jwks_uri: undefined }, jwksOf(rsa), /jwks_uri/],
    [
      'issuer with a trailing slash',
      { ...discovery, issuer: `${issuer}/` },
      jwksOf(rsa),
      /differ only by a trailing slash.*--service-account-issuer=https:\/\/issuer.example.com\/prod/,
    ],
    [
      'the in-cluster default issuer',
      { ...discovery, issuer: 'https://kubernetes.default.svc.cluster.local' },
      jwksOf(rsa),
      /--service-account-issuer=https:\/\/issuer.example.com\/prod/,
    ],
    ['an empty key set', discovery, { keys: [] }, /key set is empty/],
    [
      'a symmetric key',
      discovery,
      { keys: [{ kty: 'oct', kid: 'k', k: 'c2VjcmV0' }] },
      /symmetric/,
    ],
    ['a 1024-bit RSA key', discovery, jwksOf(generateClusterKey('RS256', 1024)), /at least 2048/],
    [
      'an RSA key with e = 1 (forgeable)',
      discovery,
      { keys: [{ ...rsa.jwk, e: 'AQ' }] },
      /cannot be published.*unsafe RSA key: public exponent e is 1/,
    ],
    [
      'an RSA modulus 2^2048 - 1',
      discovery,
      { keys: [{ ...rsa.jwk, n: Buffer.from('ff'.repeat(256), 'hex').toString('base64url') }] },
      /unsafe RSA key: modulus n is divisible by 3/,
    ],
    ['keys that are not an array', discovery, { keys: {} }, /must be an array/],
    ['a JWKS that is a number', discovery, 42, /JSON object/],
  ];
  it.each(cases)('refuses %s, pushing nothing', async (_name, served, jwks, message) => {
    const failure = await refusal(checkServedDocuments({ discovery: served, jwks }, issuer));
    expect(failure.kind).toBe('documents');
    expect(failure.exitCode).toBe(3);
    expect(failure.retryable).toBe(false);
    expect(failure.message).toMatch(message);
  });
});

const PROVIDER =
  'projects/123456/locations/global/workloadIdentityPools/fleet/providers/private-c1';

describe('idbridge sync flags', () => {
  const ok = { api: 'https://idbridge.example.com', cluster: 'prod', tokenFile: '/t' };
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no --cluster', { ...ok, cluster: undefined }, /--cluster/],
    ['an uppercase cluster id', { ...ok, cluster: 'Prod' }, /use "prod"/],
    ['a reserved cluster id', { ...ok, cluster: 'api' }, /reserved/],
    ['neither --api nor --target', { cluster: 'prod' }, /--api URL is required/],
    ['both --api and --target', { ...ok, target: 'gcs://b/p' }, /either --api .* or --target/],
    [
      '--api with a gcs:// target, naming what goes with --api',
      { ...ok, target: 'gcs://b/p' },
      /not both; only --target wif-provider:\/\/… goes with --api/,
    ],
    [
      '--api with a bucket URL that is not gcs://',
      { ...ok, target: 'https://storage.googleapis.com/b/p' },
      /either --api .* or --target/,
    ],
    [
      '--target wif-provider:// with --api but no --token-file',
      { ...ok, tokenFile: undefined, target: `wif-provider://${PROVIDER}` },
      /--token-file is required with --api/,
    ],
    [
      '--target wif-provider:// with --api over plain http to another host',
      { ...ok, api: 'http://idbridge.internal:8787', target: `wif-provider://${PROVIDER}` },
      /plain http outside this machine/,
    ],
    [
      '--api without --token-file',
      { ...ok, tokenFile: undefined },
      /--token-file is required with --api/,
    ],
    ['--api with a query', { ...ok, api: 'https://x.example/?a=1' }, /must not have a query/],
    [
      '--api with credentials',
      { ...ok, api: 'https://user:pw@x.example' },
      /must not contain credentials/,
    ],
    ['--api over ftp', { ...ok, api: 'ftp://x.example' }, /must use https/],
    [
      '--api over plain http to another host',
      { ...ok, api: 'http://idbridge.internal:8787' },
      /plain http outside this machine: the bearer token would cross the network unencrypted/,
    ],
    [
      '--once and --interval',
      { ...ok, once: true, interval: '5m' },
      /either --once .* or --interval/,
    ],
    ['an interval under 10 s', { ...ok, interval: '1s' }, /at least 10s/],
    ['an interval that is not a duration', { ...ok, interval: 'often' }, /like 30s, 5m or 1h/],
    ['0 attempts', { ...ok, attempts: '0' }, /--attempts/],
    ['a backoff that is not a duration', { ...ok, backoff: 'fast' }, /--backoff/],
    [
      'an issuer that is not a URL',
      { ...ok, issuer: 'prod' },
      /--issuer must be an absolute http\(s\) URL/,
    ],
  ];
  it.each(cases)('refuses %s (exit 2)', async (_name, flags, message) => {
    const failure = await refusal(() => parseSyncFlags(flags));
    expect(failure.exitCode).toBe(2);
    expect(failure.message).toMatch(message);
  });

  it('takes --api together with a wif-provider:// target (the provider first, then the API)', () => {
    const target = `wif-provider://${PROVIDER}`;
    expect(parseSyncFlags({ ...ok, target })).toMatchObject({ api: ok.api, target });
    expect(parseSyncFlags({ cluster: 'prod', target })).toMatchObject({ target });
  });

  it('takes the defaults', () => {
    expect(parseSyncFlags(ok)).toMatchObject({ once: false, attempts: 5, cluster: 'prod' });
    expect(parseSyncFlags({ ...ok, api: 'https://x.example/' }).api).toBe('https://x.example');
    expect(parseSyncFlags({ ...ok, api: 'http://127.0.0.1:8787' }).api).toBe(
      'http://127.0.0.1:8787',
    );
  });
});
