import { describe, expect, it } from 'vitest';
import { checkCacheHeaders, parseCacheControl } from '../../src/doctor/cache.js';
import { checkDiscovery } from '../../src/doctor/discovery-checks.js';
import type { FetchResult } from '../../src/doctor/fetch-document.js';
import {
  checkIssuerUrl,
  describeIssuerDifference,
  discoveryUrlFor,
} from '../../src/doctor/issuer-url.js';
import { checkKeys } from '../../src/doctor/jwks-checks.js';
import { acceptedAudiences, diagnoseAudience } from '../../src/doctor/token-checks.js';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { generateClusterKey } from '../support/keys.js';

/** An HTTP answer as fetchDocument returns it, without a network. */
function answer(
  body: unknown,
  headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'max-age=300',
  },
): FetchResult {
  return {
    ok: true,
    doc: {
      url: 'https://issuer.example.com/c1/.well-known/openid-configuration',
      redirects: [],
      status: 200,
      headers,
      body: JSON.stringify(body),
      truncated: false,
      ms: 1,
    },
  };
}

describe('issuer URL rules', () => {
  it('derives the discovery URL the way OIDC Discovery does (terminating slash removed)', () => {
    expect(discoveryUrlFor('https://e.example/c1')).toBe(
      'https://e.example/c1/.well-known/openid-configuration',
    );
    expect(discoveryUrlFor('https://e.example/c1/')).toBe(
      'https://e.example/c1/.well-known/openid-configuration',
    );
  });

  it.each([
    ['https://e.example/c1', 'https://e.example/c1/', /has a trailing slash/],
    ['https://e.example/c1/', 'https://e.example/c1', /lacks the trailing slash/],
    ['https://e.example/c1', 'http://e.example/c1', /scheme differs: http instead of https/],
    [
      'https://e.example/c1',
      'https://other.example/c1',
      /host differs: "other.example" instead of "e.example"/,
    ],
    ['https://e.example/c1', 'https://e.example:8443/c1', /host differs/],
    ['https://e.example/c1', 'https://e.example/c2', /path differs: "\/c2" instead of "\/c1"/],
    ['https://e.example/c1', 'https://E.example/c1', /spelling/],
    ['https://e.example/c1', 'not a url', /is not/],
  ])('%s vs %s', (expected, actual, text) =>
    expect(describeIssuerDifference(expected, actual)).toMatch(text),
  );

  it.each([
    ['https://issuer.example.com/c1', 'pass'],
    ['http://127.0.0.1:8787/c1', 'pass'],
    ['http://issuer.example.com/c1', 'warn'],
    ['https://issuer.example.com/c1/', 'warn'],
    ['https://issuer.example.com/c1?x=1', 'fail'],
    ['https://user:pw@issuer.example.com/c1', 'fail'],
    ['issuer.example.com', 'fail'],
  ])('%s → %s', (issuer, verdict) => expect(checkIssuerUrl(issuer).verdict).toBe(verdict));

  it('tells how to fix plain HTTP outside loopback', () => {
    expect(checkIssuerUrl('http://issuer.example.com/c1').fix).toMatch(/HTTPS only/);
  });
});

describe('discovery document rules (no network)', () => {
  const issuer = 'https://issuer.example.com/c1';
  const good = {
    issuer,
    jwks_uri: `${issuer}/openid/v1/jwks`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };

  it('a plain-HTTP jwks_uri outside loopback is a warning with the kube-apiserver flag to fix it', () => {
    const { checks, jwksUri } = checkDiscovery(
      issuer,
      answer({ ...good, jwks_uri: 'http://issuer.example.com/c1/openid/v1/jwks' }),
    );
    const check = checks.find((c) => c.id === 'discovery.jwks_uri')!;
    expect(check.verdict).toBe('warn');
    expect(check.fix).toMatch(/--service-account-jwks-uri=https/);
    expect(jwksUri).toBe('http://issuer.example.com/c1/openid/v1/jwks');
  });

  it('a jwks_uri that is not fetchable fails once, and is not handed on to be fetched', () => {
    const { checks, jwksUri } = checkDiscovery(
      issuer,
      answer({ ...good, jwks_uri: 'ftp://issuer.example.com/c1/openid/v1/jwks' }),
    );
    expect(checks.find((c) => c.id === 'discovery.jwks_uri')).toMatchObject({
      verdict: 'fail',
      fix: expect.stringMatching(/--service-account-jwks-uri/),
    });
    expect(jwksUri).toBeUndefined();
  });

  it('an unreachable document fails with the reason', () => {
    const { checks } = checkDiscovery(issuer, {
      ok: false,
      url: `${issuer}/.well-known/openid-configuration`,
      error: 'the host name does not resolve (DNS)',
      ms: 3,
    });
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({
      id: 'discovery.fetch',
      verdict: 'fail',
      summary: expect.stringMatching(/does not resolve/),
    });
  });

  it('a body cut at 64 KiB is not a discovery document', () => {
    const result = answer(good);
    if (result.ok) result.doc.truncated = true;
    expect(checkDiscovery(issuer, result).checks[0]).toMatchObject({
      verdict: 'fail',
      summary: expect.stringMatching(/64 KiB/),
    });
  });
});

describe('cache headers and key rotation', () => {
  it('parses directives case-insensitively with quoted values', () => {
    expect([...parseCacheControl('Public, MAX-AGE="600", no-transform')]).toEqual([
      ['public', true],
      ['max-age', '600'],
      ['no-transform', true],
    ]);
  });

  it.each([
    [{ 'cache-control': 'public, max-age=300' }, 'pass'],
    [{ 'cache-control': 'public, max-age=3600' }, 'pass'],
    [{ 'cache-control': 'public, max-age=3601' }, 'warn'],
    [{ 'cache-control': 'public, max-age=60, s-maxage=90000' }, 'fail'],
    [{ 'cache-control': 'max-age=300, immutable' }, 'fail'],
    [{ 'cache-control': 'no-cache' }, 'pass'],
    [{}, 'warn'],
    [{ date: 'Tue, 01 Jul 2025 10:00:00 GMT', expires: 'Tue, 01 Jul 2025 10:05:00 GMT' }, 'pass'],
    [{ date: 'Tue, 01 Jul 2025 10:00:00 GMT', expires: 'Wed, 02 Jul 2025 10:00:00 GMT' }, 'warn'],
  ])('%j → %s', (headers, verdict) =>
    expect(
      checkCacheHeaders('jwks.cache', 'the JWKS', headers as Record<string, string>).verdict,
    ).toBe(verdict),
  );
});

describe('key rules', () => {
  it('an ES256 (P-256) key passes every rule', async () => {
    const checks = await checkKeys([generateClusterKey('ES256').jwk]);
    expect(checks.map((c) => c.verdict)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass']);
  });

  it('names each offending key by index and kid', async () => {
    const good = generateClusterKey('RS256').jwk;
    const bad = generateClusterKey('ES384').jwk;
    const algorithms = (await checkKeys([good, bad])).find((c) => c.id === 'jwks.algorithms')!;
    expect(algorithms.details).toEqual([
      `keys[1] (kid ${JSON.stringify(bad.kid)}): an EC P-384 signing key signs ES384, which Google STS refuses (RS256 and ES256 only)`,
    ]);
  });

  it('an alg that contradicts the key type fails', async () => {
    const checks = await checkKeys([{ ...generateClusterKey('ES256').jwk, alg: 'RS256' }]);
    expect(checks.find((c) => c.id === 'jwks.algorithms')).toMatchObject({
      verdict: 'fail',
      details: [expect.stringMatching(/does not match a EC P-256 key \(ES256\)/)],
    });
  });
});

describe('audiences', () => {
  const provider = parseProvider(
    'projects/42/locations/global/workloadIdentityPools/pool-1/providers/prov-1',
  );
  it('defaults to the provider resource name with either prefix', () => {
    expect(acceptedAudiences(provider)).toEqual([
      '//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/pool-1/providers/prov-1',
      'https://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/pool-1/providers/prov-1',
    ]);
    expect(acceptedAudiences(provider, ['a', 'b'])).toEqual(['a', 'b']);
  });
  it('falls back to listing what the token carries', () => {
    expect(diagnoseAudience(['urn:something'], provider)).toBe(
      'none of ["urn:something"] is accepted',
    );
  });
});
