import { CompactSign, SignJWT, base64url, compactVerify, importJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import type { ClusterRecord } from '../../src/registry/record.js';
import {
  SubjectTokenVerifier,
  TokenError,
  unverifiedClaims,
  unverifiedIssuer,
} from '../../src/verify/subject-token.js';
import {
  claimsOf,
  forgeRs256ForExponentOne,
  generateClusterKey,
  signKubeToken,
  signRawRs256,
  type ClusterKey,
} from '../support/keys.js';

const issuer = 'https://issuer.example/c1';
const rsa = generateClusterKey('RS256');
const ec = generateClusterKey('ES256');
const es384 = generateClusterKey('ES384');
const now = Date.UTC(2026, 10, 22, 12);
const nowSec = now / 1000;

function record(...keys: ClusterKey[]): ClusterRecord {
  const at = new Date(now).toISOString();
  return {
    id: 'c1',
    issuer,
    syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
    keys: keys.map((k) => ({ jwk: k.jwk, firstSeen: at, lastSeen: at })),
    keyEvents: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

const verifier = new SubjectTokenVerifier();
const opts = { audiences: ['sts.googleapis.com'], now: () => now };
const token = (key: ClusterKey, o: Partial<Parameters<typeof signKubeToken>[1]> = {}) =>
  signKubeToken(key, {
    issuer,
    audience: 'sts.googleapis.com',
    issuedAt: nowSec - 10,
    namespace: 'apps',
    serviceAccount: 'web',
    ...o,
  });

async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TokenError);
    return (err as TokenError).failure;
  }
  throw new Error('expected the token to be refused');
}

describe('SubjectTokenVerifier', () => {
  it('accepts RS256 and ES256 tokens of the cluster and reports the Kubernetes identity', async () => {
    for (const key of [rsa, ec]) {
      const verified = await verifier.verify(await token(key), record(rsa, ec), opts);
      expect(verified).toMatchObject({
        cluster: 'c1',
        subject: 'system:serviceaccount:apps:web',
        namespace: 'apps',
        serviceAccount: 'web',
        pod: 'web-pod',
        kid: key.kid,
        alg: key.alg,
      });
    }
  });

  const forged = async (): Promise<string> => {
    const good = await token(rsa);
    const [h, p, s] = good.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    claims.sub = 'system:serviceaccount:kube-system:admin';
    return `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
  };

  type Case = [
    name: string,
    make: () => Promise<string>,
    failure: string,
    extra?: { subject?: string },
  ];
  const cases: Case[] = [
    ['expired', () => token(rsa, { issuedAt: nowSec - 7200, lifetime: 3600 }), 'expired'],
    ['not yet valid', () => token(rsa, { claims: { nbf: nowSec + 600 } }), 'not_yet_valid'],
    [
      'issued in the future',
      () => token(rsa, { issuedAt: nowSec + 600, claims: { nbf: undefined } }),
      'issued_in_future',
    ],
    ['48 h lifetime', () => token(rsa, { lifetime: 48 * 3600 }), 'lifetime_too_long'],
    [
      'wrong audience',
      () => token(rsa, { audience: 'https://kubernetes.default.svc' }),
      'wrong_audience',
    ],
    ['wrong issuer', () => token(rsa, { issuer: 'https://issuer.example/c1/' }), 'wrong_issuer'],
    ['unknown kid', () => token(generateClusterKey('RS256')), 'unknown_key'],
    ['ES384', () => token(es384), 'unsupported_algorithm'],
    [
      'alg none',
      async () =>
        `${base64url.encode('{"alg":"none","kid":"x"}')}.${base64url.encode(JSON.stringify({ iss: issuer }))}.`,
      'unsupported_algorithm',
    ],
    [
      'HS256 keyed with the public key',
      () =>
        new SignJWT({
          iss: issuer,
          sub: 'x',
          aud: 'sts.googleapis.com',
          iat: nowSec,
          exp: nowSec + 60,
        })
          .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
          .sign(new TextEncoder().encode(JSON.stringify(rsa.jwk))),
      'unsupported_algorithm',
    ],
    ['tampered payload', forged, 'bad_signature'],
    ['truncated', async () => (await token(rsa)).slice(0, 100), 'malformed'],
    ['not a JWT', async () => 'hello world', 'malformed'],
    ['300 KB', async () => 'a'.repeat(300_000), 'too_large'],
    ['missing sub', () => token(rsa, { claims: { sub: undefined } }), 'malformed'],
    [
      'wrong subject',
      () => token(rsa),
      'wrong_subject',
      { subject: 'system:serviceaccount:idbridge-sync:idbridge-sync' },
    ],
  ];

  it.each(cases)('refuses %s', async (_name, make, expected, extra) => {
    expect(
      await failure(verifier.verify(await make(), record(rsa, ec, es384), { ...opts, ...extra })),
    ).toBe(expected);
  });

  it('uses the keys of the current record version, not a cached older set', async () => {
    const t = await token(ec);
    await verifier.verify(t, record(rsa, ec), opts);
    const rotated = { ...record(rsa), version: 2 };
    expect(await failure(verifier.verify(t, rotated, opts))).toBe('unknown_key');
  });

  it('compares key lists by content: a cluster registered again at version 1 with other keys', async () => {
    const t = await token(rsa);
    await verifier.verify(t, record(rsa), opts);
    const again = record(generateClusterKey('RS256'));
    expect(again.version).toBe(1);
    expect(await failure(verifier.verify(t, again, opts))).toBe('unknown_key');
  });

  it('refuses a key id whose key is of another algorithm than the token names', async () => {
    const forgedHeader = await signKubeToken(ec, {
      issuer,
      audience: 'sts.googleapis.com',
      issuedAt: nowSec - 10,
      header: { kid: rsa.kid },
    });
    expect(await failure(verifier.verify(forgedHeader, record(rsa, ec), opts))).toBe('unknown_key');
  });

  it('refuses a signed payload that is not a JSON object', async () => {
    const notAnObject = await new CompactSign(new TextEncoder().encode('[1,2,3]'))
      .setProtectedHeader({ alg: 'RS256', kid: rsa.kid })
      .sign(rsa.privateKey);
    expect(await failure(verifier.verify(notAnObject, record(rsa), opts))).toBe('malformed');
  });

  it('uses claims decoded beforehand only for the very token they came from', async () => {
    const t = await token(rsa);
    const other = await token(rsa, { serviceAccount: 'other' });
    const direct = await verifier.verify(t, record(rsa), opts);
    expect(await verifier.verify(t, record(rsa), { ...opts, claims: unverifiedClaims(t) })).toEqual(
      direct,
    );
    // Claims of another token are not taken for this one's.
    expect(
      (await verifier.verify(t, record(rsa), { ...opts, claims: unverifiedClaims(other) })).subject,
    ).toBe('system:serviceaccount:apps:web');
    // Nor do they make a tampered token pass: the signature is checked first.
    const [h, , sig] = t.split('.');
    const tampered = `${h}.${other.split('.')[1]}.${sig}`;
    expect(
      await failure(
        verifier.verify(tampered, record(rsa), { ...opts, claims: unverifiedClaims(tampered) }),
      ),
    ).toBe('bad_signature');
  });

  it('reads the unverified issuer to pick a cluster, and nothing more', async () => {
    expect(unverifiedIssuer(await token(rsa))).toBe(issuer);
    expect(() => unverifiedIssuer('x.y')).toThrow(/not a compact JWT/);
  });

  it('never puts the token in its error messages', async () => {
    const t = await token(rsa, { audience: 'nope' });
    try {
      await verifier.verify(t, record(rsa), opts);
    } catch (err) {
      expect((err as Error).message).not.toContain(t.split('.')[2]);
      expect((err as Error).message).not.toContain(t.split('.')[1]);
    }
  });

  it('refuses "crit": ["b64"] with b64 false, even given the claims decoded beforehand (one payload is judged)', async () => {
    const claims = claimsOf(
      await token(rsa, { serviceAccount: 'admin', namespace: 'kube-system' }),
    );
    // b64: false: the payload segment is signed as raw bytes, so jose "verifies" the base64url text itself.
    const unencoded = signRawRs256(
      rsa,
      { alg: 'RS256', kid: rsa.kid, b64: false, crit: ['b64'] },
      base64url.encode(JSON.stringify(claims)),
    );
    const refused = verifier.verify(unencoded, record(rsa), {
      ...opts,
      claims: unverifiedClaims(unencoded),
    });
    await expect(refused).rejects.toThrow(/"crit", RFC 7515 §4\.1\.11/);
    expect(
      await failure(
        verifier.verify(unencoded, record(rsa), { ...opts, claims: unverifiedClaims(unencoded) }),
      ),
    ).toBe('critical_header');
    expect(await failure(verifier.verify(unencoded, record(rsa), opts))).toBe('critical_header');
  });

  it('refuses "crit": ["exp"] with a message about crit, not about the key', async () => {
    const t = signRawRs256(
      rsa,
      { alg: 'RS256', kid: rsa.kid, crit: ['exp'], exp: nowSec + 60 },
      claimsOf(await token(rsa)),
    );
    await expect(verifier.verify(t, record(rsa), opts)).rejects.toThrow(
      /marks \["exp"\] as critical.*implements no JWS extensions/,
    );
    expect(await failure(verifier.verify(t, record(rsa), opts))).toBe('critical_header');
    // The same header check answers without any record, as a push to an unknown cluster needs.
    expect(() => verifier.checkHeader(t)).toThrow(/"crit"/);
  });

  it('never verifies with a key on record that fails the RSA rule: an e = 1 key cannot be forged against', async () => {
    if (rsa.jwk.kty !== 'RSA') throw new Error('unreachable');
    // As an older version stored it: a real modulus with e = 1.
    const forgeable = { ...rsa.jwk, kid: 'forgeable', e: 'AQ' };
    const old = {
      ...record(rsa),
      keys: [
        ...record(rsa).keys,
        { jwk: forgeable, firstSeen: record().createdAt, lastSeen: record().createdAt },
      ],
    };
    const forged = forgeRs256ForExponentOne(
      256,
      { alg: 'RS256', kid: 'forgeable' },
      claimsOf(await token(rsa, { namespace: 'kube-system', serviceAccount: 'cluster-admin' })),
    );
    // The forgery is real: the platform verifies it with the e = 1 key, no private key involved.
    await expect(compactVerify(forged, await importJWK(forgeable, 'RS256'))).resolves.toBeDefined();
    expect(await failure(verifier.verify(forged, old, opts))).toBe('unknown_key');
    // The sound key of the same record still verifies.
    expect((await verifier.verify(await token(rsa), old, opts)).kid).toBe(rsa.kid);
  });
});
