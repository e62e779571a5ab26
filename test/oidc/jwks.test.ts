import { describe, expect, it } from 'vitest';
import { checkPushedDiscovery, buildDiscovery } from '../../src/oidc/discovery.js';
import { keyFlaw, partitionKeys, rsaKeyFlaw, validateJwks } from '../../src/oidc/jwks.js';
import { IdbridgeError } from '../../src/errors.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

const rsa = generateClusterKey('RS256');
const p256 = generateClusterKey('ES256');
const p384 = generateClusterKey('ES384');
const p521 = generateClusterKey('ES512');

async function refusal(input: unknown): Promise<IdbridgeError> {
  try {
    await validateJwks(input);
  } catch (err) {
    expect(err).toBeInstanceOf(IdbridgeError);
    return err as IdbridgeError;
  }
  throw new Error('expected the JWKS to be refused');
}

describe('validateJwks', () => {
  it('accepts kube-apiserver JWKS (RSA and P-256) and returns the canonical public form', async () => {
    const extra = { ...rsa.jwk, x5t: 'ignored', ext: true };
    const result = await validateJwks({ keys: [extra, p256.jwk] });
    expect(result.keys).toEqual([rsa.jwk, p256.jwk]);
    expect(result.warnings).toEqual([]);
  });

  it('accepts a JWKS given as the raw JSON text the apiserver served', async () => {
    expect((await validateJwks(JSON.stringify(jwksOf(rsa)))).keys).toEqual([rsa.jwk]);
  });

  it('infers alg from the key type when absent and fills use', async () => {
    const { alg: _a, use: _u, ...bare } = rsa.jwk;
    const { alg: _b, ...bareEc } = p256.jwk;
    const result = await validateJwks({ keys: [bare, bareEc] });
    expect(result.keys.map((k) => [k.alg, k.use])).toEqual([
      ['RS256', 'sig'],
      ['ES256', 'sig'],
    ]);
  });

  it('records ES384 and ES512 keys but warns that Google refuses them', async () => {
    const result = await validateJwks(jwksOf(rsa, p384, p521));
    expect(result.keys.map((k) => k.alg)).toEqual(['RS256', 'ES384', 'ES512']);
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings[0]).toMatch(/ES384, which Google STS refuses.*RSA or EC P-256/);
  });

  it('reports every bad key with its path, not just the first', async () => {
    const err = await refusal({
      keys: [{ ...rsa.jwk, d: 'x' }, { kty: 'oct', kid: 'k', k: 'c2VjcmV0' }, p256.jwk],
    });
    expect(err.details.map((d) => d.path)).toEqual(['keys[0]', 'keys[1]']);
  });

  it('refuses private EC keys', async () => {
    const priv = p256.privateKey.export({ format: 'jwk' });
    const err = await refusal({ keys: [{ ...priv, kid: 'p' }] });
    expect(err.message).toMatch(/private key material \(d\)/);
  });

  it('refuses a JWKS document over 64 KiB before parsing it', async () => {
    const err = await refusal(`{"keys":[],"x":"${'a'.repeat(70_000)}"}`);
    expect(err.code).toBe('payload_too_large');
  });

  it('refuses an RSA modulus with leading zero bytes that hide a short key', async () => {
    const short = generateClusterKey('RS256', 1024);
    if (short.jwk.kty !== 'RSA') throw new Error('unreachable');
    const padded = Buffer.concat([
      Buffer.alloc(200),
      Buffer.from(short.jwk.n, 'base64url'),
    ]).toString('base64url');
    const err = await refusal({ keys: [{ ...short.jwk, n: padded }] });
    expect(err.message).toMatch(/1024 bits/);
  });
});

describe('discovery documents', () => {
  const issuer = 'https://issuer.example/c1';
  const pushed = {
    issuer,
    jwks_uri: 'https://10.0.0.1:6443/openid/v1/jwks',
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };

  it('accepts the document a cluster with the right issuer serves', () => {
    expect(checkPushedDiscovery(pushed, issuer).issuer).toBe(issuer);
  });

  it('refuses a different issuer and names the apiserver flag that fixes it', () => {
    expect(() =>
      checkPushedDiscovery(
        { ...pushed, issuer: 'https://kubernetes.default.svc.cluster.local' },
        issuer,
      ),
    ).toThrow(/--service-account-issuer=https:\/\/issuer\.example\/c1/);
  });

  it('calls out a trailing-slash mismatch specifically', () => {
    expect(() => checkPushedDiscovery({ ...pushed, issuer: `${issuer}/` }, issuer)).toThrow(
      /only by a trailing slash/,
    );
  });

  it('refuses a document that is not a provider configuration', () => {
    expect(() => checkPushedDiscovery({ keys: [] }, issuer)).toThrow(
      /not an OpenID provider configuration/,
    );
    expect(() => checkPushedDiscovery({ ...pushed, jwks_uri: 'not a url' }, issuer)).toThrow(
      /not an OpenID provider configuration/,
    );
  });

  it('computes the published document from the registered issuer and the keys', () => {
    expect(buildDiscovery(issuer, [rsa.jwk, p256.jwk, rsa.jwk])).toEqual({
      issuer,
      jwks_uri: `${issuer}/openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    });
  });
});

/** The one RSA rule, on plain values: no key here is generated except the real one that passes. */
describe('rsaKeyFlaw: degenerate RSA keys', () => {
  const real = rsa.jwk.kty === 'RSA' ? rsa.jwk : undefined!;
  /** Big-endian base64url of `value` in `bytes` bytes (default: as few as it needs). */
  const b64 = (value: bigint, bytes = Math.ceil(value.toString(16).length / 2)) =>
    Buffer.from(value.toString(16).padStart(bytes * 2, '0'), 'hex').toString('base64url');
  /** Mersenne primes: large factors a test modulus can be built from without any small prime. */
  const mersenne = (p: bigint) => (1n << p) - 1n;
  const bigPrimes = mersenne(1279n) * mersenne(607n) * mersenne(127n) * mersenne(89n);
  const n = BigInt(`0x${Buffer.from(real.n, 'base64url').toString('hex')}`);
  const cases: Array<[name: string, n: string, e: string, flaw: RegExp]> = [
    ['e = 1', real.n, 'AQ', /e is 1: .*ANYONE CAN FORGE TOKENS/],
    ['e = 0', real.n, 'AA', /e is 0; only e = 65537/],
    ['e = 3', real.n, 'Aw', /e is 3; only e = 65537/],
    ['e = 65539', real.n, b64(65539n, 3), /e is 65539; only e = 65537/],
    ['e = 65537 with a leading zero byte', real.n, b64(65537n, 4), /65537 with leading zero bytes/],
    ['an even modulus', b64(n - 1n), 'AQAB', /n is even/],
    ['n = 2^2048 - 1', b64((1n << 2048n) - 1n), 'AQAB', /divisible by 3/],
    ['a modulus with the small factor 9973', b64(bigPrimes * 9973n), 'AQAB', /divisible by 9973/],
    ['a perfect square', b64(mersenne(1279n) ** 2n), 'AQAB', /perfect square/],
    [
      'a modulus shorter than stated (leading zero byte)',
      Buffer.concat([Buffer.alloc(1), Buffer.from(real.n, 'base64url')]).toString('base64url'),
      'AQAB',
      /starts with a zero byte/,
    ],
  ];

  it.each(cases)('refuses %s', (_name, modulus, exponent, flaw) => {
    expect(rsaKeyFlaw(modulus, exponent)).toMatch(flaw);
  });

  it('passes a real 2048-bit key with e = 65537', () => {
    expect(rsaKeyFlaw(real.n, real.e)).toBeUndefined();
    expect(real.e).toBe('AQAB');
  });

  it.each(cases)(
    'registration and push (validateJwks) refuse %s with the reason',
    async (_name, modulus, exponent, flaw) => {
      const err = await refusal({ keys: [p256.jwk, { ...real, n: modulus, e: exponent }] });
      expect(err.code).toBe('invalid_jwks');
      expect(err.details).toEqual([{ path: 'keys[1]', message: expect.stringMatching(flaw) }]);
      expect(err.message).toMatch(/unsafe RSA key/);
    },
  );

  it('withholds such a key among keys already on record, and keeps the sound ones', () => {
    const forgeable = { ...real, kid: 'forgeable', e: 'AQ' };
    const { trusted, withheld } = partitionKeys([real, forgeable, p256.jwk]);
    expect(trusted).toEqual([real, p256.jwk]);
    expect(withheld).toEqual([{ kid: 'forgeable', reason: expect.stringMatching(/e is 1/) }]);
    expect(keyFlaw(forgeable)).toMatch(/FORGE/);
  });
});
