import { base64url as b64u, importJWK } from 'jose';
import { z } from 'zod';
import { IdbridgeError, type ErrorDetail } from '../errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { MAX_DOCUMENT_BYTES, MAX_KEYS, MAX_KID_LENGTH } from './limits.js';

/** The algorithms a Kubernetes service-account issuer signs with, by key type and curve. */
export type SigningAlgorithm = 'RS256' | 'ES256' | 'ES384' | 'ES512';

/** Google STS verifies subject tokens signed with these only. */
export const GOOGLE_ACCEPTED_ALGORITHMS = [
  'RS256',
  'ES256',
] as const satisfies readonly SigningAlgorithm[];
export type GoogleAcceptedAlgorithm = (typeof GOOGLE_ACCEPTED_ALGORITHMS)[number];

/**
 * The one representation of a public signing key: the canonical form validateJwks returns, the
 * registry stores and every host republishes (members in kube-apiserver's order, nothing else).
 * Lenient on length so records stored by any earlier version still parse.
 */
const storedBase64url = z.string().regex(/^[A-Za-z0-9_-]+$/);
export const publicJwkSchema = z.union([
  z.strictObject({
    use: z.literal('sig'),
    kty: z.literal('RSA'),
    kid: z.string().min(1),
    alg: z.literal('RS256'),
    n: storedBase64url,
    e: storedBase64url,
  }),
  z.strictObject({
    use: z.literal('sig'),
    kty: z.literal('EC'),
    kid: z.string().min(1),
    crv: z.enum(['P-256', 'P-384', 'P-521']),
    alg: z.enum(['ES256', 'ES384', 'ES512']),
    x: storedBase64url,
    y: storedBase64url,
  }),
]);
export type PublicJwk = z.infer<typeof publicJwkSchema>;

export interface Jwks {
  keys: PublicJwk[];
}

export interface ValidatedJwks extends Jwks {
  /** Things that are accepted but will not work everywhere, e.g. an algorithm Google refuses. */
  warnings: string[];
}

export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;
export const MIN_RSA_BITS = 2048;
const CURVE_ALGORITHM = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const;

/** The algorithm an EC key of curve `crv` signs with; undefined for a curve Kubernetes does not use. */
export function curveAlgorithm(crv: unknown): SigningAlgorithm | undefined {
  return typeof crv === 'string' && Object.hasOwn(CURVE_ALGORITHM, crv)
    ? CURVE_ALGORITHM[crv as keyof typeof CURVE_ALGORITHM]
    : undefined;
}

const base64url = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url without padding');

const commonMembers = {
  kid: z.string().min(1, 'must not be empty').max(MAX_KID_LENGTH),
  use: z
    .literal('sig', { error: 'must be "sig": only signing keys belong in an issuer JWKS' })
    .optional(),
  key_ops: z
    .array(z.literal('verify', { error: 'only "verify" is allowed for a public signing key' }))
    .optional(),
};

const rsaKey = z.looseObject({
  kty: z.literal('RSA'),
  ...commonMembers,
  alg: z
    .literal('RS256', {
      error: 'an RSA key of a Kubernetes issuer signs RS256; set alg to "RS256" or omit it',
    })
    .optional(),
  n: base64url,
  e: base64url.max(16),
});

const ecKey = z.looseObject({
  kty: z.literal('EC'),
  ...commonMembers,
  crv: z.enum(['P-256', 'P-384', 'P-521'], { error: 'curve must be P-256, P-384 or P-521' }),
  alg: z.enum(['ES256', 'ES384', 'ES512']).optional(),
  x: base64url,
  y: base64url,
});

const jwksShape = z.looseObject({
  keys: z
    .array(z.record(z.string(), z.unknown()), { error: '"keys" must be an array of JSON objects' })
    .min(1, 'the key set is empty: publish at least the key your kube-apiserver signs with')
    .max(MAX_KEYS, `at most ${MAX_KEYS} keys are accepted; remove keys no longer used for signing`),
});

/** Bits of an RSA modulus given as base64url, ignoring leading zero bytes. */
export function rsaModulusBits(n: string): number {
  const bytes = b64u.decode(n);
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/**
 * The one public exponent accepted. kube-apiserver's keys come from OpenSSL or Go's crypto/rsa,
 * which both use 65537; any other value is either forgeable (e = 1), unusable (e = 0 or even)
 * or a hand-made key no Kubernetes cluster signs with, so refusing it costs nobody anything.
 */
export const RSA_PUBLIC_EXPONENT = 65537n;
/** Small primes a sound modulus has no factor among: a cheap sieve of trivially factorable moduli. */
const SMALL_PRIMES_BELOW = 10_000;
const SMALL_PRIMES = primesBelow(SMALL_PRIMES_BELOW);

function primesBelow(limit: number): number[] {
  const composite = new Uint8Array(limit);
  const primes: number[] = [];
  for (let i = 2; i < limit; i++) {
    if (composite[i]) continue;
    primes.push(i);
    for (let j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return primes;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex === '' ? 0n : BigInt(`0x${hex}`);
}

/** floor(sqrt(n)) by Newton's method, for n >= 0. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  // Start above the root (2^ceil(bits/2)) so the iteration decreases monotonically to it.
  let x = 1n << BigInt(Math.ceil(n.toString(2).length / 2));
  for (;;) {
    const next = (x + n / x) >> 1n;
    if (next >= x) return x;
    x = next;
  }
}

/** The smallest prime below SMALL_PRIMES_BELOW dividing n, if any (one BigInt remainder per few primes). */
function smallFactor(n: bigint): number | undefined {
  // Primes below 2^14, three at a time: their product stays below 2^53, so the rest is Number arithmetic.
  for (let i = 0; i < SMALL_PRIMES.length; i += 3) {
    const group = SMALL_PRIMES.slice(i, i + 3);
    const rest = Number(n % BigInt(group.reduce((a, b) => a * b, 1)));
    const factor = group.find((p) => rest % p === 0);
    if (factor !== undefined) return factor;
  }
  return undefined;
}

/**
 * Why an RSA public key (base64url `n` and `e`) must not be trusted, or undefined when it is
 * sound. The one rule every place that judges a JWKS applies (registration, push, sync, the
 * edge, doctor, and records stored before it existed). With e = 1 a signature is its own
 * PKCS#1 v1.5 encoding, so anyone could forge tokens; a modulus that is even, padded with zero
 * bytes, a perfect square or divisible by a small prime is factored at once.
 */
export function rsaKeyFlaw(n: string, e: string): string | undefined {
  let modulus: Uint8Array;
  let exponent: Uint8Array;
  try {
    modulus = b64u.decode(n);
    exponent = b64u.decode(e);
  } catch {
    return 'n or e is not base64url';
  }
  const eValue = bytesToBigInt(exponent);
  if (eValue !== RSA_PUBLIC_EXPONENT || exponent[0] === 0) {
    const shown = eValue < 1n << 64n ? String(eValue) : `a ${exponent.length}-byte number`;
    const why =
      eValue === 1n
        ? ': with e = 1 every signature is its own padded message, so ANYONE CAN FORGE TOKENS for this key'
        : eValue === RSA_PUBLIC_EXPONENT
          ? ' with leading zero bytes; encode it as "AQAB"'
          : '';
    return `public exponent e is ${shown}${why}; only e = 65537 ("AQAB") is accepted, what kube-apiserver keys (OpenSSL, Go) always have — re-export the key from the cluster's /openid/v1/jwks, or generate a new one with openssl genpkey -algorithm RSA`;
  }
  if (modulus[0] === 0) {
    return "modulus n starts with a zero byte, so it is shorter than its encoded length; a JWK encodes n without leading zeros (RFC 7518 §6.3.1.1) — re-export the key from the cluster's /openid/v1/jwks";
  }
  const nValue = bytesToBigInt(modulus);
  if ((nValue & 1n) === 0n)
    return 'modulus n is even, so it is not a product of two large primes and anyone can factor it (and forge tokens); this is not a real RSA key';
  const factor = smallFactor(nValue);
  if (factor !== undefined)
    return `modulus n is divisible by ${factor}, so anyone can factor it and forge tokens; this is not a real RSA key — generate a new one with openssl genpkey -algorithm RSA`;
  const root = isqrt(nValue);
  if (root * root === nValue)
    return 'modulus n is a perfect square, so anyone can factor it and forge tokens; this is not a real RSA key — generate a new one with openssl genpkey -algorithm RSA';
  return undefined;
}

/** Why a stored or served public key must not be trusted, or undefined (EC points were checked on import). */
export function keyFlaw(key: PublicJwk): string | undefined {
  return key.kty === 'RSA' ? rsaKeyFlaw(key.n, key.e) : undefined;
}

/** A key left out of what is served, and why. */
export interface WithheldKey {
  kid: string;
  reason: string;
}

/**
 * Splits keys already on record (stored before the RSA rule existed, or held by a cache) into
 * those that may be served and trusted, and those withheld as unsafe.
 */
export function partitionKeys<K extends PublicJwk>(
  keys: readonly K[],
): { trusted: K[]; withheld: WithheldKey[] } {
  const trusted: K[] = [];
  const withheld: WithheldKey[] = [];
  for (const key of keys) {
    const reason = keyFlaw(key);
    if (reason === undefined) trusted.push(key);
    else withheld.push({ kid: key.kid, reason });
  }
  return { trusted, withheld };
}

/** The warning that flags a withheld key wherever a cluster's state is shown. */
export function withheldWarning(key: WithheldKey): string {
  return `key ${JSON.stringify(key.kid)} is on record but WITHHELD from the published JWKS and never trusted, because it is unsafe: ${key.reason}; remove it (an administrator replaces the keys with PUT /api/v1/clusters/{id}/keys) and rotate the cluster's signing key if the kube-apiserver used it`;
}

async function validateKey(
  raw: Record<string, unknown>,
  path: string,
): Promise<{ key?: PublicJwk; problems: ErrorDetail[] }> {
  const privateMembers = PRIVATE_MEMBERS.filter((m) => m in raw);
  if (raw.kty === 'oct' || 'k' in raw) {
    return {
      problems: [
        {
          path,
          message:
            'symmetric ("oct") keys are secrets and never belong in a public JWKS; publish only the public half of an RSA or EC key',
        },
      ],
    };
  }
  if (privateMembers.length > 0) {
    return {
      problems: [
        {
          path,
          message: `contains private key material (${privateMembers.join(', ')}); publish only the public key — this key must now be treated as leaked and rotated`,
        },
      ],
    };
  }
  if (raw.kty !== 'RSA' && raw.kty !== 'EC') {
    return {
      problems: [
        {
          path: `${path}.kty`,
          message: `key type ${JSON.stringify(raw.kty)} is not supported; use an RSA (2048+ bits) or EC P-256 signing key`,
        },
      ],
    };
  }

  let key: PublicJwk;
  if (raw.kty === 'RSA') {
    const parsed = rsaKey.safeParse(raw);
    if (!parsed.success) return { problems: zodDetails(parsed.error, { prefix: path }) };
    const bits = rsaModulusBits(parsed.data.n);
    if (bits < MIN_RSA_BITS) {
      return {
        problems: [
          {
            path: `${path}.n`,
            message: `RSA key is ${bits} bits; at least ${MIN_RSA_BITS} bits are required`,
          },
        ],
      };
    }
    const flaw = rsaKeyFlaw(parsed.data.n, parsed.data.e);
    if (flaw !== undefined) return { problems: [{ path, message: `unsafe RSA key: ${flaw}` }] };
    key = {
      use: 'sig',
      kty: 'RSA',
      kid: parsed.data.kid,
      alg: 'RS256',
      n: parsed.data.n,
      e: parsed.data.e,
    };
  } else {
    const parsed = ecKey.safeParse(raw);
    if (!parsed.success) return { problems: zodDetails(parsed.error, { prefix: path }) };
    const alg = CURVE_ALGORITHM[parsed.data.crv];
    if (parsed.data.alg !== undefined && parsed.data.alg !== alg) {
      return {
        problems: [
          {
            path: `${path}.alg`,
            message: `curve ${parsed.data.crv} signs ${alg}, but alg says ${parsed.data.alg}`,
          },
        ],
      };
    }
    key = {
      use: 'sig',
      kty: 'EC',
      kid: parsed.data.kid,
      crv: parsed.data.crv,
      alg,
      x: parsed.data.x,
      y: parsed.data.y,
    };
  }

  try {
    // The real test of key material: the platform's crypto must accept it as a public key.
    await importJWK(key, key.alg);
  } catch {
    return {
      problems: [
        {
          path,
          message: `not a valid ${key.kty} public key (the key material does not import); re-export it from the cluster's /openid/v1/jwks`,
        },
      ],
    };
  }
  return { key, problems: [] };
}

/**
 * Validates a JWKS as a Kubernetes service-account issuer publishes it and returns it in the
 * canonical public form idbridge republishes (members in kube-apiserver's order, nothing else).
 */
export async function validateJwks(input: unknown): Promise<ValidatedJwks> {
  if (typeof input === 'string') {
    if (byteLength(input) > MAX_DOCUMENT_BYTES) throw tooLarge('JWKS');
    try {
      input = JSON.parse(input);
    } catch {
      throw new IdbridgeError(
        'invalid_jwks',
        "the JWKS is not valid JSON; send the body of the cluster's /openid/v1/jwks unchanged",
      );
    }
  } else if (byteLength(JSON.stringify(input) ?? '') > MAX_DOCUMENT_BYTES) {
    throw tooLarge('JWKS');
  }

  const shape = jwksShape.safeParse(input);
  if (!shape.success) {
    const details = zodDetails(shape.error);
    throw new IdbridgeError(
      'invalid_jwks',
      `the JWKS must be a JSON object {"keys": [...]} with 1 to ${MAX_KEYS} public keys: ${describeIssues(details, 'jwks')}`,
      details,
    );
  }

  const problems: ErrorDetail[] = [];
  const keys: PublicJwk[] = [];
  const seenKids = new Set<string>();
  for (const [i, raw] of shape.data.keys.entries()) {
    const path = `keys[${i}]`;
    if (typeof raw.kid !== 'string' || raw.kid === '') {
      problems.push({
        path: `${path}.kid`,
        message: 'every key needs a non-empty "kid": verifiers select the key by the token\'s kid',
      });
      continue;
    }
    if (seenKids.has(raw.kid)) {
      problems.push({
        path: `${path}.kid`,
        message: `kid ${JSON.stringify(raw.kid)} appears more than once; each key needs its own kid`,
      });
      continue;
    }
    seenKids.add(raw.kid);
    const result = await validateKey(raw, path);
    problems.push(...result.problems);
    if (result.key) keys.push(result.key);
  }
  if (problems.length > 0) {
    throw new IdbridgeError(
      'invalid_jwks',
      `the JWKS was refused: ${describeIssues(problems)}`,
      problems,
    );
  }
  return { keys, warnings: keys.flatMap(keyWarnings) };
}

/** Warnings about a key that is valid but that Google STS will not accept. */
export function keyWarnings(key: PublicJwk): string[] {
  if (googleAccepts(key.alg)) return [];
  return [
    `key ${JSON.stringify(key.kid)} signs ${key.alg}, which Google STS refuses (RS256 and ES256 only): give the kube-apiserver an RSA or EC P-256 --service-account-signing-key-file`,
  ];
}

export function googleAccepts(alg: unknown): alg is GoogleAcceptedAlgorithm {
  return (GOOGLE_ACCEPTED_ALGORITHMS as readonly unknown[]).includes(alg);
}

export function byteLength(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}

function tooLarge(what: string): IdbridgeError {
  return new IdbridgeError(
    'payload_too_large',
    `the ${what} is larger than ${MAX_DOCUMENT_BYTES / 1024} KiB; an issuer document is never that large — check that you are sending the right file`,
  );
}
