import { describe, expect, it } from 'vitest';
import type { OriginCopy } from '../../src/edge/cluster-state.js';
import { evaluateOrigin } from '../../src/edge/origin-copy.js';
import type { DocumentFetch, FetchedDocuments } from '../../src/edge/origin-fetch.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

const issuer = 'https://edge.example/c1';
const accepted = [issuer, 'https://origin.example/c1'];
const rsa = generateClusterKey('RS256');
const ec384 = generateClusterKey('ES384');
const goodJwks = JSON.stringify(jwksOf(rsa));
const goodDiscovery = JSON.stringify(buildDiscovery(issuer, [rsa.jwk]));
const ok = (text: string, etag: string | null = '"e"'): DocumentFetch => ({
  status: 'ok',
  text,
  etag,
});
const both = (discovery: DocumentFetch, jwks: DocumentFetch): FetchedDocuments => ({
  discovery,
  jwks,
});
const now = 1_700_000_000_000;

describe('judging what the origin sent', () => {
  it('accepts valid documents and keeps the canonical public keys and the validators', async () => {
    const outcome = await evaluateOrigin(
      both(ok(goodDiscovery, '"d1"'), ok(goodJwks, '"j1"')),
      null,
      accepted,
      now,
    );
    expect(outcome).toEqual({
      kind: 'ok',
      copy: {
        keys: [rsa.jwk],
        originIssuer: issuer,
        etags: { discovery: '"d1"', jwks: '"j1"' },
        changedAt: { discovery: now, jwks: now },
      },
    });
  });

  it("accepts the origin's own URL as issuer (the edge republishes its own)", async () => {
    const discovery = JSON.stringify(buildDiscovery('https://origin.example/c1', [rsa.jwk]));
    const outcome = await evaluateOrigin(both(ok(discovery), ok(goodJwks)), null, accepted, now);
    expect(outcome).toMatchObject({
      kind: 'ok',
      copy: { originIssuer: 'https://origin.example/c1' },
    });
  });

  it('keeps the previous copy (same object) when both documents are unchanged (304)', async () => {
    const previous: OriginCopy = {
      keys: [rsa.jwk],
      originIssuer: issuer,
      etags: { discovery: '"d"', jwks: '"j"' },
      changedAt: { discovery: 1, jwks: 2 },
    };
    const outcome = await evaluateOrigin(
      both({ status: 'not-modified' }, { status: 'not-modified' }),
      previous,
      accepted,
      now,
    );
    expect(outcome).toEqual({ kind: 'ok', copy: previous });
  });

  it('takes a changed JWKS with an unchanged discovery document', async () => {
    const previous: OriginCopy = {
      keys: [rsa.jwk],
      originIssuer: issuer,
      etags: { discovery: '"d"', jwks: '"j"' },
      changedAt: { discovery: 1, jwks: 2 },
    };
    const outcome = await evaluateOrigin(
      both({ status: 'not-modified' }, ok(JSON.stringify(jwksOf(rsa, ec384)), '"j2"')),
      previous,
      accepted,
      now,
    );
    expect(outcome).toEqual({
      kind: 'ok',
      copy: {
        keys: [rsa.jwk, ec384.jwk],
        originIssuer: issuer,
        etags: { discovery: '"d"', jwks: '"j2"' },
        changedAt: { discovery: 1, jwks: now },
      },
    });
  });

  it('reports a cluster the origin does not have only when both documents are missing', async () => {
    const missing: DocumentFetch = { status: 'missing', httpStatus: 404 };
    expect(await evaluateOrigin(both(missing, missing), null, accepted, now)).toMatchObject({
      kind: 'missing',
    });
    expect(await evaluateOrigin(both(missing, ok(goodJwks)), null, accepted, now)).toMatchObject({
      kind: 'fault',
      reason: /discovery document: the origin answers HTTP 404 for it while it has the other/,
    });
  });

  const withKey = (extra: Record<string, unknown>) =>
    JSON.stringify({ keys: [{ ...rsa.jwk, ...extra }] });
  const discoveryWith = (patch: Record<string, unknown>) =>
    JSON.stringify({ ...JSON.parse(goodDiscovery), ...patch });
  const hostile: [string, FetchedDocuments, RegExp][] = [
    [
      'truncated JWKS',
      both(ok(goodDiscovery), ok(goodJwks.slice(0, 40))),
      /JWKS: the JWKS is not valid JSON/,
    ],
    [
      'JWKS that is HTML',
      both(ok(goodDiscovery), ok('<html>maintenance</html>')),
      /JWKS: the JWKS is not valid JSON/,
    ],
    [
      'JWKS with a private exponent',
      both(ok(goodDiscovery), ok(withKey({ d: 'AQAB' }))),
      /private key material \(d\)/,
    ],
    [
      'JWKS with a symmetric key',
      both(ok(goodDiscovery), ok('{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}')),
      /symmetric/,
    ],
    ['empty JWKS', both(ok(goodDiscovery), ok('{"keys":[]}')), /the key set is empty/],
    ['JWKS as an array', both(ok(goodDiscovery), ok('[]')), /JWKS must be a JSON object/],
    [
      'JWKS with a 1024-bit RSA key',
      both(ok(goodDiscovery), ok(JSON.stringify(jwksOf(generateClusterKey('RS256', 1024))))),
      /1024 bits/,
    ],
    [
      'JWKS with a key that does not import',
      both(ok(goodDiscovery), ok(withKey({ n: 'AAAA'.repeat(90) }))),
      /bits|does not import/,
    ],
    [
      'JWKS with an RSA key with e = 1 (forgeable)',
      both(
        ok(goodDiscovery),
        ok(JSON.stringify({ keys: [rsa.jwk, { ...rsa.jwk, kid: 'forgeable', e: 'AQ' }] })),
      ),
      /JWKS: .*keys\[1\]: unsafe RSA key: public exponent e is 1/,
    ],
    [
      'JWKS with an even RSA modulus',
      both(
        ok(goodDiscovery),
        ok(withKey({ n: Buffer.from('ff'.repeat(255) + 'fe', 'hex').toString('base64url') })),
      ),
      /unsafe RSA key: modulus n is even/,
    ],
    [
      'truncated discovery',
      both(ok(goodDiscovery.slice(0, 30)), ok(goodJwks)),
      /discovery document: not valid JSON/,
    ],
    [
      'discovery without jwks_uri',
      both(ok(discoveryWith({ jwks_uri: undefined })), ok(goodJwks)),
      /discovery document: not an OpenID provider configuration: jwks_uri/,
    ],
    [
      'discovery with a relative issuer',
      both(ok(discoveryWith({ issuer: '/c1' })), ok(goodJwks)),
      /issuer: must be an absolute URL/,
    ],
    [
      'discovery naming another host',
      both(ok(discoveryWith({ issuer: 'https://attacker.example/c1' })), ok(goodJwks)),
      /issuer "https:\/\/attacker.example\/c1" is not this cluster's/,
    ],
    [
      'discovery with a trailing slash',
      both(ok(discoveryWith({ issuer: `${issuer}/` })), ok(goodJwks)),
      /is not this cluster's/,
    ],
    [
      'discovery of another cluster',
      both(ok(discoveryWith({ issuer: 'https://edge.example/c2' })), ok(goodJwks)),
      /is not this cluster's/,
    ],
    [
      'a 304 to an unconditional request',
      both({ status: 'not-modified' }, ok(goodJwks)),
      /304 Not Modified to an unconditional request/,
    ],
    [
      'a failed fetch',
      both({ status: 'fault', reason: 'the origin answered HTTP 503' }, ok(goodJwks)),
      /discovery document: the origin answered HTTP 503/,
    ],
  ];
  it.each(hostile)('refuses %s, saying why', async (_name, fetched, reason) => {
    const outcome = await evaluateOrigin(fetched, null, accepted, now);
    expect(outcome.kind).toBe('fault');
    expect(outcome.kind === 'fault' && outcome.reason).toMatch(reason);
  });

  it('drops members it does not republish, __proto__ included', async () => {
    const jwks = `{"keys":[${JSON.stringify(rsa.jwk).slice(0, -1)},"x5c":["MII"],"__proto__":{"admin":true}}]}`;
    const outcome = await evaluateOrigin(both(ok(goodDiscovery), ok(jwks)), null, accepted, now);
    expect(outcome).toMatchObject({ kind: 'ok', copy: { keys: [rsa.jwk] } });
    expect(outcome.kind === 'ok' && Object.keys(outcome.copy.keys[0]!)).toEqual([
      'use',
      'kty',
      'kid',
      'alg',
      'n',
      'e',
    ]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
