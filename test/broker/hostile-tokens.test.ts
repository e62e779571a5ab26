import { base64url, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, generateClusterKey, signRawRs256 } from '../support/keys.js';
import { startBrokerStack, type BrokerStack } from './stack.js';

/**
 * Hostile subject tokens are refused by the broker itself, each with Google's error code and a
 * description saying what to fix, and none of them costs an upstream call.
 */
describe('broker refuses hostile subject tokens before anything leaves for Google', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    stack = await startBrokerStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const tampered = async () => {
    const [h, p, s] = (await stack.token()).split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!))) as Record<
      string,
      unknown
    >;
    claims.sub = 'system:serviceaccount:kube-system:admin';
    return `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
  };
  const unsigned = (header: object) =>
    `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify({ iss: stack.issuerOf('c1'), sub: 'system:serviceaccount:apps:web', aud: [stack.provider.audience], iat: now(), exp: now() + 600 }))}.`;

  type Case = [
    name: string,
    make: () => Promise<string>,
    status: number,
    error: string,
    description: RegExp,
  ];
  const cases: Case[] = [
    [
      'expired',
      () => stack.token({ issuedAt: now() - 7200, lifetime: 3600 }),
      400,
      'invalid_grant',
      /expired/,
    ],
    [
      'not yet valid',
      () => stack.token({ claims: { nbf: now() + 600 } }),
      400,
      'invalid_grant',
      /not valid yet/,
    ],
    [
      'issued in the future',
      () => stack.token({ issuedAt: now() + 600, claims: { nbf: undefined } }),
      400,
      'invalid_grant',
      /issued .* in the future/,
    ],
    [
      'exp - iat of 48 h',
      () => stack.token({ lifetime: 48 * 3600 }),
      400,
      'invalid_grant',
      /less than 48 h/,
    ],
    [
      'wrong audience',
      () => stack.token({ audience: 'https://kubernetes.default.svc' }),
      400,
      'invalid_grant',
      /audience/,
    ],
    [
      'unregistered issuer',
      () => stack.token({ issuer: stack.issuerOf('c9') }),
      400,
      'invalid_grant',
      /not a cluster registered with this broker/,
    ],
    [
      'foreign issuer with a registered id',
      () => stack.token({ issuer: 'https://evil.example/c1' }),
      400,
      'invalid_grant',
      /not a cluster registered/,
    ],
    [
      'issuer with a trailing slash',
      () => stack.token({ issuer: `${stack.issuerOf('c1')}/` }),
      400,
      'invalid_grant',
      /not a cluster registered/,
    ],
    [
      'unknown kid',
      () => stack.token({}, generateClusterKey('RS256')),
      400,
      'invalid_grant',
      /key id .* is not among cluster c1's published keys/,
    ],
    [
      'alg none',
      async () => unsigned({ alg: 'none', kid: stack.key.kid }),
      400,
      'invalid_grant',
      /only RS256 and ES256/,
    ],
    [
      'HS256 keyed with the public key',
      () =>
        new SignJWT({
          iss: stack.issuerOf('c1'),
          sub: 'system:serviceaccount:apps:web',
          aud: stack.provider.audience,
          iat: now(),
          exp: now() + 600,
        })
          .setProtectedHeader({ alg: 'HS256', kid: stack.key.kid })
          .sign(new TextEncoder().encode(JSON.stringify(stack.key.jwk))),
      400,
      'invalid_grant',
      /only RS256 and ES256/,
    ],
    [
      'ES384',
      () => stack.token({}, generateClusterKey('ES384')),
      400,
      'invalid_grant',
      /"ES384".*only RS256 and ES256/,
    ],
    ['tampered payload', tampered, 400, 'invalid_grant', /signature does not verify/],
    [
      'truncated',
      async () => (await stack.token()).slice(0, 100),
      400,
      'invalid_grant',
      /not a compact JWT/,
    ],
    ['not a JWT', async () => 'hello world', 400, 'invalid_grant', /not a compact JWT/],
    [
      'no iss',
      () => stack.token({ claims: { iss: undefined } }),
      400,
      'invalid_grant',
      /no "iss" claim/,
    ],
    ['300 KB', async () => 'a'.repeat(300_000), 413, 'invalid_request', /larger than 64 KiB/],
    // Validly signed, but the payload jose verifies (raw bytes, b64: false) is not the one the claims came from.
    [
      'crit b64 with b64 false',
      async () =>
        signRawRs256(
          stack.key,
          { alg: 'RS256', kid: stack.key.kid, b64: false, crit: ['b64'] },
          base64url.encode(JSON.stringify(claimsOf(await stack.token()))),
        ),
      400,
      'invalid_grant',
      /marks \["b64"\] as critical \("crit", RFC 7515 §4\.1\.11\).*implements no JWS extensions/,
    ],
    [
      'crit exp',
      async () =>
        signRawRs256(
          stack.key,
          { alg: 'RS256', kid: stack.key.kid, crit: ['exp'], exp: now() + 600 },
          claimsOf(await stack.token()),
        ),
      400,
      'invalid_grant',
      /marks \["exp"\] as critical \("crit", RFC 7515/,
    ],
    [
      'crit that is not an array',
      async () =>
        signRawRs256(
          stack.key,
          { alg: 'RS256', kid: stack.key.kid, crit: 'b64' },
          claimsOf(await stack.token()),
        ),
      400,
      'invalid_grant',
      /"crit"/,
    ],
  ];

  it.each(cases)(
    'refuses %s with no upstream call',
    async (_name, make, status, error, description) => {
      const token = await make();
      const before = { ...stack.google.calls };
      const res = await stack.exchange(stack.tokenForm(token));
      const body = (await res.json()) as { error: string; error_description: string };
      expect(res.status).toBe(status);
      expect(body.error).toBe(error);
      expect(body.error_description).toMatch(description);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(stack.google.calls).toEqual(before);
      for (const part of token.split('.').filter((p) => p.length > 8))
        expect(body.error_description).not.toContain(part);
    },
  );

  it('logs the refusal reason but none of the refused token', async () => {
    const token = await tampered();
    await stack.exchange(stack.tokenForm(token));
    const line = stack.auditLines().at(-1)!;
    expect(line).toMatchObject({
      endpoint: 'token',
      cluster: 'c1',
      outcome: 'refused',
      reason: 'bad_signature',
      status: 400,
    });
    // A claim of a token that did not verify is not an identity: no subject is logged.
    expect(line.subject).toBeUndefined();
    for (const part of token.split('.')) expect(stack.serve.logs.join('\n')).not.toContain(part);
  });
});
